/*
 * harness.h - the shared test harness: real servers on free ports in temporary
 * directories, waiting by polling with a deadline, stopping by PID.
 */
#ifndef CORIO_HARNESS_H
#define CORIO_HARNESS_H

/* A TCP port on 127.0.0.1 that was free when asked. */
int h_free_port(void);

/* A fresh directory under $TMPDIR (or /tmp), named after prefix; the caller frees the path. */
char *h_tmpdir(const char *prefix);

#endif
