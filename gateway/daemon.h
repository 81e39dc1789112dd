/*
 * daemon.h - corio-gateway, as a function the thin main() calls (gateway/main.c).
 */
#ifndef CORIO_GATEWAY_DAEMON_H
#define CORIO_GATEWAY_DAEMON_H

/* Runs the daemon until SIGTERM or SIGINT; returns the process exit status. */
int corio_gateway_main(int argc, char **argv);

#endif
