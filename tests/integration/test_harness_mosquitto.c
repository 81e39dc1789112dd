/*
 * test_harness_mosquitto.c - the harness's Mosquitto: it starts, answers MQTT over
 * plain TCP and TLS with client certificates, keeps retained messages across a
 * restart with persistence, stops leaving no process; and it loads the
 * instrumented test plugin, under the preloaded sanitizer runtime in a sanitizer
 * build, where a bug in the plugin is reported from inside the broker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static void starts_answers_and_stops(void **state)
{
    (void)state;
    struct h_mosq *m = h_mosq_start(NULL);
    assert_non_null(m);
    assert_true(m->port > 0);
    pid_t pid = h_proc_pid(m->proc);

    char *conf = h_read_file(m->conf, NULL);
    assert_non_null(conf);
    assert_non_null(strstr(conf, "max_queued_messages 0"));
    assert_non_null(strstr(conf, h_strf("listener %d 127.0.0.1", m->port)));

    struct h_mqtt *sub = h_mqtt_connect(m->port, NULL);
    assert_non_null(sub);
    assert_int_equal(h_mqtt_subscribe(sub, "t/#", 1), CORIO_OK);
    struct h_mqtt *pub = h_mqtt_connect(m->port, &(struct h_mqtt_opts){.mqtt5 = true});
    assert_non_null(pub);
    assert_int_equal(h_mqtt_publish(pub, "t/zero", "a", 1, 0), CORIO_OK);
    assert_int_equal(h_mqtt_publish(pub, "t/one", "bc", 2, 1), CORIO_OK);
    assert_int_equal(h_mqtt_publish(pub, "other", "x", 1, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(sub, "t/#", 2, 5000), 2);
    assert_int_equal(h_mqtt_count(sub, "t/one"), 1);
    assert_int_equal(h_mqtt_count(sub, NULL), 2);
    const struct h_mqtt_msg *last = h_mqtt_msg(sub, 1);
    assert_non_null(last);
    assert_string_equal(last->topic, "t/one");
    assert_int_equal(last->len, 2);
    assert_string_equal((const char *)last->payload, "bc");
    assert_null(h_mqtt_msg(sub, 2));

    /* The broker going away is seen by its clients. */
    assert_int_equal(h_mosq_stop(m), 0);
    assert_true(h_pid_gone(pid));
    assert_int_equal(h_mqtt_wait_disconnected(sub, 5000), CORIO_OK);
    assert_int_equal(h_mqtt_disconnects(sub), 1);
    assert_null(h_mqtt_connect(m->port, &(struct h_mqtt_opts){.timeout_ms = 300}));
}

static void tls_listener_requires_a_client_certificate(void **state)
{
    (void)state;
    struct h_pki *pki = h_pki_create("device-1");
    assert_non_null(pki);
    struct h_mosq_opts o = {
        .listeners = 2,
        .listener[1] = {.certfile = pki->server_cert,
                        .keyfile = pki->server_key,
                        .cafile = pki->ca_cert,
                        .require_certificate = true,
                        .extra = "use_identity_as_username true"},
    };
    struct h_mosq *m = h_mosq_start(&o);
    assert_non_null(m);
    assert_int_equal(m->nports, 2);
    assert_int_not_equal(m->ports[0], m->ports[1]);
    int tls = m->ports[1];

    struct h_mqtt_opts with = {
        .cafile = pki->ca_cert, .certfile = pki->client_cert, .keyfile = pki->client_key};
    struct h_mqtt *c = h_mqtt_connect(tls, &with);
    assert_non_null(c);
    assert_int_equal(h_proc_wait_log(m->proc, "u'device-1'", 5000), CORIO_OK);

    const char *cert2, *key2;
    assert_int_equal(h_pki_issue(pki, "device-2", &cert2, &key2), CORIO_OK);
    struct h_mqtt_opts other = {.cafile = pki->ca_cert, .certfile = cert2, .keyfile = key2};
    assert_non_null(h_mqtt_connect(tls, &other));
    assert_int_equal(h_proc_wait_log(m->proc, "u'device-2'", 5000), CORIO_OK);

    struct h_mqtt_opts without = {.cafile = pki->ca_cert, .timeout_ms = 1000};
    assert_null(h_mqtt_connect(tls, &without));
    /* The plain listener still answers. */
    assert_non_null(h_mqtt_connect(m->ports[0], NULL));
}

static void persistence_survives_a_restart(void **state)
{
    (void)state;
    struct h_mosq *m = h_mosq_start(&(struct h_mosq_opts){.persistence = true});
    assert_non_null(m);
    struct h_mqtt_opts keeper = {.client_id = "keeper", .persistent = true};
    struct h_mqtt *sub = h_mqtt_connect(m->port, &keeper);
    assert_non_null(sub);
    assert_int_equal(h_mqtt_subscribe(sub, "queued", 1), CORIO_OK);
    h_mqtt_close(sub);

    /* Queued for the offline session, saved when the broker stops. */
    struct h_mqtt *pub = h_mqtt_connect(m->port, NULL);
    assert_non_null(pub);
    assert_int_equal(h_mqtt_publish(pub, "queued", "v1", 2, 1), CORIO_OK);
    h_mqtt_close(pub);

    pid_t first = h_proc_pid(m->proc);
    assert_int_equal(h_mosq_restart(m), CORIO_OK);
    assert_true(h_pid_gone(first));
    assert_int_not_equal(h_proc_pid(m->proc), first);

    sub = h_mqtt_connect(m->port, &keeper);
    assert_non_null(sub);
    assert_int_equal(h_mqtt_wait_count(sub, "queued", 1, 5000), 1);
    assert_string_equal((const char *)h_mqtt_msg(sub, 0)->payload, "v1");
}

static void plugin_loads_under_the_sanitizer_runtime(void **state)
{
    (void)state;
    const char *plugin = h_lib("corio_testplugin.so");
    const char *opts[] = {"greeting hello", NULL};
    /* TLS too: a clean exit must hold with OpenSSL's allocations in the broker. */
    struct h_pki *pki = h_pki_create("device-1");
    assert_non_null(pki);
    struct h_mosq_opts o = {
        .plugin = plugin,
        .plugin_opts = opts,
        .persistence = true,
        .listeners = 2,
        .listener[1] = {.certfile = pki->server_cert,
                        .keyfile = pki->server_key,
                        .cafile = pki->ca_cert,
                        .require_certificate = true},
    };
    struct h_mosq *m = h_mosq_start(&o);
    assert_non_null(m);
    const char *loaded = h_strf("corio-testplugin: loaded instrumented=%s greeting=hello",
                                h_sanitized() ? "yes" : "no");
    assert_int_equal(h_proc_wait_log(m->proc, loaded, 5000), CORIO_OK);

    /* The broker process has the runtime mapped only through the preload. */
    char *maps = h_read_file(h_strf("/proc/%d/maps", (int)h_proc_pid(m->proc)), NULL);
    assert_non_null(maps);
    if (h_sanitized())
        assert_true(strstr(maps, "libasan") || strstr(maps, "libclang_rt.asan"));
    else
        assert_null(strstr(maps, "libasan"));

    struct h_mqtt *c = h_mqtt_connect(m->port, NULL);
    assert_non_null(c);
    assert_int_equal(h_mqtt_publish(c, "a/b", "xyz", 3, 1), CORIO_OK);
    assert_int_equal(h_proc_wait_log(m->proc, "corio-testplugin: message 1 on a/b (3 bytes)", 5000),
                     CORIO_OK);
    h_mqtt_close(c);
    struct h_mqtt_opts tls = {
        .cafile = pki->ca_cert, .certfile = pki->client_cert, .keyfile = pki->client_key};
    c = h_mqtt_connect(m->ports[1], &tls);
    assert_non_null(c);
    assert_int_equal(h_mqtt_publish(c, "a/tls", "xyz", 3, 1), CORIO_OK);
    assert_int_equal(h_proc_wait_log(m->proc, "corio-testplugin: message 2 on a/tls", 5000),
                     CORIO_OK);
    h_mqtt_close(c);

    /* Leave state behind for the shutdown: a retained message, a persistent session
     * with a queued message, a client still connected. */
    int mid;
    c = h_mqtt_connect(m->port, NULL);
    assert_non_null(c);
    assert_int_equal(h_mqtt_publish_nowait(c, "a/kept", "r", 1, 1, true, &mid), CORIO_OK);
    assert_int_equal(h_mqtt_wait_published(c, mid, 5000), CORIO_OK);
    struct h_mqtt_opts keeper = {.client_id = "keeper", .persistent = true};
    struct h_mqtt *k = h_mqtt_connect(m->port, &keeper);
    assert_non_null(k);
    assert_int_equal(h_mqtt_subscribe(k, "q/#", 1), CORIO_OK);
    h_mqtt_close(k);
    assert_int_equal(h_mqtt_publish(c, "q/1", "queued", 6, 1), CORIO_OK);
    /* Exit 0 also means LeakSanitizer found nothing in the plugin or the broker. */
    assert_int_equal(h_mosq_stop(m), 0);
    assert_true(h_proc_log_contains(m->proc, "corio-testplugin: unloaded after 4 messages"));
}

static void plugin_overflow_is_reported_from_the_broker(void **state)
{
    (void)state;
    if (!h_sanitized())
        skip();
    struct h_mosq *m = h_mosq_start(&(struct h_mosq_opts){.plugin = h_lib("corio_testplugin.so")});
    assert_non_null(m);
    h_proc_expect_failure(m->proc);
    struct h_mqtt *c = h_mqtt_connect(m->port, NULL);
    assert_non_null(c);
    assert_int_equal(h_mqtt_publish(c, "harness/plugin/overflow", "x", 1, 0), CORIO_OK);
    assert_int_equal(h_proc_wait_exit(m->proc, 10000), 66);
    assert_true(h_proc_log_contains(m->proc, "ERROR: AddressSanitizer: heap-buffer-overflow"));
    assert_true(h_proc_log_contains(m->proc, "testplugin.c"));
}

static void plugin_leak_is_reported_at_broker_exit(void **state)
{
    (void)state;
    if (!h_sanitized())
        skip();
    struct h_mosq *m = h_mosq_start(&(struct h_mosq_opts){.plugin = h_lib("corio_testplugin.so")});
    assert_non_null(m);
    h_proc_expect_failure(m->proc);
    struct h_mqtt *c = h_mqtt_connect(m->port, NULL);
    assert_non_null(c);
    assert_int_equal(h_mqtt_publish(c, "harness/plugin/leak", "x", 1, 1), CORIO_OK);
    assert_int_equal(h_proc_wait_log(m->proc, "corio-testplugin: leaked", 5000), CORIO_OK);
    h_mqtt_close(c);
    assert_int_equal(h_mosq_stop(m), 66);
    assert_true(h_proc_log_contains(m->proc, "ERROR: LeakSanitizer"));
    /* The plugin stays mapped through the preload, so the report names its line. */
    assert_true(h_proc_log_contains(m->proc, "testplugin.c"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(starts_answers_and_stops),
        H_TEST(tls_listener_requires_a_client_certificate),
        H_TEST(persistence_survives_a_restart),
        H_TEST(plugin_loads_under_the_sanitizer_runtime),
        H_TEST(plugin_overflow_is_reported_from_the_broker),
        H_TEST(plugin_leak_is_reported_at_broker_exit),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
