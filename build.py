"""Build the tag into dist/ (the same as `rtp-tag build`)."""

import sys

from rtp_tag.build import main

if __name__ == "__main__":
    sys.exit(main())
