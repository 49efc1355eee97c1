"""Filing the way an auditor does it through the pages: registering, filing a month."""

import io

from tests.helpers.web import post_form

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
       b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00"
       b"\x00\x00\x00IEND\xaeB`\x82")


def incident_form(linked=None, **overrides) -> dict:
    data = {
        "occurred_at": "2025-03-20T15:30",
        "category": "plead",
        "channel": "phone",
        "actor_name": "李某某",
        "actor_org": "区某局",
        "actor_position": "副局长",
        "actor_relation": "leading_cadre",
        "project": str(linked.id) if linked else "0",
        "stage": "fieldwork",
        "description": "来电请求对其分管单位的问题从轻处理。",
        "response": "refused",
        "response_detail": "当场拒绝并告知将如实登记。",
        "delay_reason": "",
    }
    data.update(overrides)
    return data


def register(client, linked=None, files=(), **overrides):
    data = incident_form(linked, **overrides)
    if files:
        data["evidence"] = [(io.BytesIO(content), name) for name, content in files]
    return post_form(client, "/filing/incidents/new", data, content_type="multipart/form-data")


def file_month(client, period="2025-03", zero=True):
    return post_form(client, f"/filing/reports/{period}", {"zero": "1" if zero else "0",
                                                    "declaration": "y"})
