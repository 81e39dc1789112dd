#!/bin/bash
# The images' health check.
#   corio-healthcheck            GET $CORIO_HEALTHZ (set per image; override it when the
#                                configuration moves the HTTP port) answers 2xx within 4 s
#   corio-healthcheck tcp PORT   something accepts connections on 127.0.0.1:PORT (the
#                                cloud broker: Mosquitto has no HTTP endpoint)
if [ "${1:-}" = tcp ]; then
    exec timeout 4 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "${2:?port}"
fi
exec curl -fsS --max-time 4 -o /dev/null "${CORIO_HEALTHZ:?CORIO_HEALTHZ is not set}"
