#!/bin/sh
# The images' health check: GET $CORIO_HEALTHZ (set per image; override it when the
# configuration moves the HTTP port) must answer 2xx within 4 seconds.
exec curl -fsS --max-time 4 -o /dev/null "${CORIO_HEALTHZ:?CORIO_HEALTHZ is not set}"
