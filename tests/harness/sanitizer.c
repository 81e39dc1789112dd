/*
 * sanitizer.c - what a foreign, uninstrumented program (Mosquitto) needs to load
 * our instrumented code in a sanitizer build (harness.h, "Sanitizers").
 *
 * A plugin built with -fsanitize=address needs the ASan runtime loaded before
 * anything else, which only LD_PRELOAD can do for a program we did not link. The
 * runtime must be the one of the compiler that built the plugin ($CORIO_CC).
 *
 * The options: leak detection stays on, because a clean Mosquitto 2.0 shutdown
 * frees everything the broker allocated (checked by the harness's own tests), so
 * a leak report names our plugin; Mosquitto dlclose()s plugins before exit, so the
 * harness also preloads the plugin itself to keep its symbols for the report.
 * strict_string_checks is off because it is for our code, not the broker's. A
 * report ends the broker with exit status 66 (a sanitizer's, not the broker's) and
 * without a core dump (abort_on_error=0).
 */
#include "harness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define H_SAN_EXIT "66"

static char *g_env_store[4];
static const char *g_env[4];
static bool g_env_done;

/* The first line `cc args` prints, or NULL. */
static char *cc_output(const char *cc, const char *args)
{
    if (strchr(cc, '\''))
        return NULL;
    char *cmd = h__xasprintf("'%s' %s 2>/dev/null", cc, args);
    FILE *f = popen(cmd, "r");
    free(cmd);
    if (!f)
        return NULL;
    char line[4096];
    char *res = NULL;
    if (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        res = h__xstrdup(line);
    }
    while (fgets(line, sizeof line, f)) {
    }
    pclose(f);
    return res;
}

/* The path `cc -print-file-name=name` gives, if it names an existing file (a
 * compiler that does not know the file prints the bare name back). */
static char *runtime_path(const char *cc, const char *name)
{
    char *args = h__xasprintf("-print-file-name=%s", name);
    char *p = cc_output(cc, args);
    free(args);
    if (p && (p[0] != '/' || access(p, R_OK) != 0)) {
        free(p);
        p = NULL;
    }
    return p;
}

static char *find_preload(void)
{
    const char *cc = getenv("CORIO_CC");
    if (!cc || !*cc)
        cc = "cc";
    char *version = cc_output(cc, "--version");
    bool clang = version && strstr(version, "clang");
    free(version);
    if (clang) {
        struct utsname u;
        if (uname(&u) != 0)
            return NULL;
        char *name = h__xasprintf("libclang_rt.asan-%s.so", u.machine);
        char *p = runtime_path(cc, name);
        free(name);
        return p; /* it carries the UBSan runtime too */
    }
    char *asan = runtime_path(cc, "libasan.so");
    char *ubsan = runtime_path(cc, "libubsan.so");
    char *res = NULL;
    if (asan && ubsan)
        res = h__xasprintf("%s:%s", asan, ubsan);
    else if (asan)
        res = h__xstrdup(asan);
    free(asan);
    free(ubsan);
    return res;
}

static void free_env(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < sizeof g_env_store / sizeof g_env_store[0]; i++) {
        free(g_env_store[i]);
        g_env_store[i] = NULL;
        g_env[i] = NULL;
    }
    g_env_done = false;
}

const char *const *h_sanitizer_env(void)
{
    if (g_env_done)
        return g_env;
    g_env_done = true;
    if (!h_sanitized())
        return g_env;
    h__defer_run(free_env, NULL);
    int n = 0;
    char *preload = find_preload();
    if (preload) {
        g_env_store[n++] = h__xasprintf("LD_PRELOAD=%s", preload);
        free(preload);
    } else {
        h__msg("no sanitizer runtime found for $CORIO_CC; a foreign program cannot load "
               "instrumented code");
    }
    g_env_store[n++] = h__xstrdup("ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1:"
                                  "strict_string_checks=0:exitcode=" H_SAN_EXIT);
    g_env_store[n++] = h__xstrdup("UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:"
                                  "exitcode=" H_SAN_EXIT);
    for (int i = 0; i < n; i++)
        g_env[i] = g_env_store[i];
    return g_env;
}

const char *h_broker_env_conf(void)
{
    char *lines = h_strf("%s", "");
    for (const char *const *v = h_sanitizer_env(); v && *v; v++)
        lines = h_strf("%sbroker_env %s\n", lines, *v);
    return lines;
}
