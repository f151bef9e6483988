"""``kubectl chronos``: the kubectl plugin (issue 23).

The plugin talks to the API server as the person running it (their kubeconfig and
context), never through the REST facade: what they may do is what their RBAC says.
``views`` holds the pure formatting, ``cluster`` the API-server I/O, ``commands`` one
function per command, ``__main__`` the command line and its error messages.
"""
