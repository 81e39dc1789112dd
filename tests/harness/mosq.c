/*
 * mosq.c - a Mosquitto broker for a test: a generated configuration, free ports,
 * an optional plugin (under the sanitizer runtime in sanitizer builds), readiness
 * when every listener accepts (harness.h, "Mosquitto").
 */
#include "harness_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MOSQUITTO "/usr/sbin/mosquitto"

struct mosq_int {
    struct h_mosq pub;
    struct h_mosq_opts opts; /* pointers borrowed from the caller for the start only */
    bool auto_port[H_MOSQ_MAX_LISTENERS];
};

static char *config_text(const struct mosq_int *m)
{
    const struct h_mosq_opts *o = &m->opts;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    fprintf(f, "# Written by the Corio test harness (tests/harness/mosq.c).\n");
    if (h__is_root())
        fprintf(f, "user root\n");
    fprintf(f, "max_queued_messages 0\n"
               "log_dest stderr\n"
               "log_timestamp true\n"
               "log_timestamp_format %%H:%%M:%%S\n"
               "connection_messages true\n");
    if (o->verbose)
        fprintf(f, "log_type all\n");
    else
        fprintf(f, "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n");
    fprintf(f, "allow_anonymous %s\n", o->deny_anonymous ? "false" : "true");
    if (o->persistence)
        fprintf(f, "persistence true\npersistence_location %s/\n", m->pub.dir);
    else
        fprintf(f, "persistence false\n");
    if (o->plugin) {
        fprintf(f, "plugin %s\n", o->plugin);
        for (int i = 0; o->plugin_opts && o->plugin_opts[i]; i++)
            fprintf(f, "plugin_opt_%s\n", o->plugin_opts[i]);
    }
    if (o->extra)
        fprintf(f, "%s\n", o->extra);
    for (int i = 0; i < m->pub.nports; i++) {
        const struct h_mosq_listener *l = &o->listener[i];
        fprintf(f, "\nlistener %d 127.0.0.1\n", m->pub.ports[i]);
        if (l->certfile)
            fprintf(f, "certfile %s\n", l->certfile);
        if (l->keyfile)
            fprintf(f, "keyfile %s\n", l->keyfile);
        if (l->cafile)
            fprintf(f, "cafile %s\n", l->cafile);
        if (l->require_certificate)
            fprintf(f, "require_certificate true\n");
        if (l->extra)
            fprintf(f, "%s\n", l->extra);
    }
    fclose(f);
    return buf;
}

static int write_config(struct mosq_int *m)
{
    char *text = config_text(m);
    if (!text)
        return CORIO_ERR_IO;
    int rc = h_write_file(m->pub.conf, text);
    free(text);
    return rc;
}

static int wait_ready(struct mosq_int *m)
{
    for (int i = 0; i < m->pub.nports; i++) {
        int rc = h_proc_wait_port(m->pub.proc, m->pub.ports[i], 10000);
        if (rc != CORIO_OK)
            return rc;
    }
    return CORIO_OK;
}

struct h_mosq *h_mosq_start(const struct h_mosq_opts *opts)
{
    static const struct h_mosq_opts none;
    if (!opts)
        opts = &none;
    if (opts->listeners < 0 || opts->listeners > H_MOSQ_MAX_LISTENERS) {
        h__msg("h_mosq_start: %d listeners", opts->listeners);
        return NULL;
    }
    struct mosq_int *m = h__scoped(h__xcalloc(1, sizeof *m));
    m->opts = *opts;
    m->pub.dir = h_mkdir("mosquitto");
    m->pub.conf = h_strf("%s/mosquitto.conf", m->pub.dir);
    m->pub.nports = opts->listeners ? opts->listeners : 1;
    for (int i = 0; i < m->pub.nports; i++)
        m->auto_port[i] = opts->listener[i].port == 0;

    for (int attempt = 0; attempt < 3; attempt++) {
        for (int i = 0; i < m->pub.nports; i++)
            m->pub.ports[i] = m->auto_port[i] ? h_free_port() : opts->listener[i].port;
        m->pub.port = m->pub.ports[0];
        if (write_config(m) != CORIO_OK)
            return NULL;
        int rc;
        if (!m->pub.proc) {
            const char *argv[] = {MOSQUITTO, "-c", m->pub.conf, NULL};
            struct h_proc_opts po = {
                .sanitizer_preload = opts->plugin != NULL,
                .preload = opts->plugin,
            };
            m->pub.proc = h_proc_start("mosquitto", argv, &po);
            if (!m->pub.proc)
                return NULL;
            rc = wait_ready(m);
        } else {
            rc = h_proc_restart(m->pub.proc);
            if (rc == CORIO_OK)
                rc = wait_ready(m);
        }
        if (rc == CORIO_OK)
            return &m->pub;
        bool busy = !h_proc_alive(m->pub.proc) &&
                    h_proc_log_contains(m->pub.proc, "Address already in use");
        if (!busy)
            break;
        h__msg("mosquitto: a port was taken meanwhile; trying other ports");
    }
    h_proc_stop(m->pub.proc);
    return NULL;
}

int h_mosq_stop(struct h_mosq *m)
{
    return m ? h_proc_stop(m->proc) : CORIO_ERR_INVAL;
}

int h_mosq_restart(struct h_mosq *m)
{
    if (!m)
        return CORIO_ERR_INVAL;
    struct mosq_int *mi = (struct mosq_int *)m;
    int rc = h_proc_restart(m->proc);
    return rc == CORIO_OK ? wait_ready(mi) : rc;
}
