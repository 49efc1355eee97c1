"""The auditor's monthly filing: periods and deadlines, the official calendar, monthly reports,
incidents, evidence and the filing tally.
"""
