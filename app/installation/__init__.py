"""The installation administrator's area (平台管理员): the agencies of one installation (a city
bureau above its district bureaus, deeper trees allowed), who administers each of them, and the
settings that hold for the whole installation (the mail server and the portal's address).

Agency administrators run their own agency only (app/admin). Neither level sees the content of
a registration, nor makes anyone a member of a discipline office.
"""
