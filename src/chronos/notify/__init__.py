"""Notifications (issue 21), the part shared by whoever sends them: what each channel
type is sent (``payloads``, pure), how a webhook body is signed (``signing``, pure),
when a failed delivery is tried again (``retry``, pure), and one delivery attempt
(``send``, the I/O). No Kubernetes here: the operator's ``notifier`` reads channels and
Secrets and calls ``send.deliver``.
"""
