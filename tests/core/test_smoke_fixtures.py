from tests.helpers.web import login


def test_login_then_home(client, auditor, frozen):
    login(client, auditor)
    response = client.get("/")
    assert response.status_code == 200
    assert "2025-03" in response.get_data(as_text=True)
