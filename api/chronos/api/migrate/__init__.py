"""``chronos migrate``: moving the jobs of a running old Chronos to ChronosJobs.

``source`` reads them over its REST API, ``convert`` turns each into a manifest with the
REST facade's own mapping (pure), ``cli`` writes or applies them and reports.
"""
