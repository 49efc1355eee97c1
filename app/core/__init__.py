"""The ground floor every area stands on: extensions, clock, i18n, access, audit log, codes."""
