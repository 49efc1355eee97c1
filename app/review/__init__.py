"""The discipline office: the review workflow and queue, pattern alerts, the office's own
membership, the audit log page.
"""
