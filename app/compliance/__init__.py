"""Filing compliance: who has filed, on time, late or not at all (never what), the dashboard
and its exports.
"""
