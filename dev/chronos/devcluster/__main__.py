"""``python -m chronos.devcluster {build,image,up,down,status}``: the local system on a
kind cluster built here (``kindcluster``)."""

import sys

from chronos.devcluster.kindcluster import main

if __name__ == "__main__":
    sys.exit(main())
