"""Notices: the outbox queue, their texts, MIME rendering and SMTP delivery, the reminder rounds,
the scheduler and the bell.
"""
