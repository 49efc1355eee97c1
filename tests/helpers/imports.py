"""Import files as an administrator or an operator would upload them."""

from __future__ import annotations

import io

from tests.helpers.web import post_form

HEADER_ZH = "工号,姓名,科室,邮箱,角色,入职日期"


ROWS = [
    "A001,王芳,财政审计科,wangfang@example.org,审计人员,2024-03-01",
    "A002,刘强,机关纪委,liuqiang@example.org,纪检,2023-09-15",
    "A003,陈晓燕,办公室,,审计人员；局领导,",
]


def csv_file(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def preview(client, raw: bytes, kind: str = "users", name: str = "staff.csv"):
    return post_form(client, f"/admin/import/{kind}", {"file": (io.BytesIO(raw), name)},
                     form_url=f"/admin/import/{kind}", content_type="multipart/form-data")
