/*
 * test_harness_nats.c - the harness's nats-server: one node with JetStream and an
 * MQTT listener answers MQTT and its monitoring port and stops leaving nothing; a
 * three-node JetStream cluster survives the SIGKILL of a node, the node restarts
 * on its store and rejoins, and traffic crosses it again; the client port can be
 * TLS; the MQTT listener too, with users that client certificates name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static void one_node_with_mqtt_answers_and_stops(void **state)
{
    (void)state;
    struct h_nats *n = h_nats_start(&(struct h_nats_opts){.mqtt = true});
    assert_non_null(n);
    assert_int_equal(n->nodes, 1);
    struct h_nats_node *nd = &n->node[0];
    assert_string_equal(n->url, h_strf("nats://127.0.0.1:%d", nd->port));
    assert_true(h_port_open(nd->port));

    struct h_http_resp r;
    assert_int_equal(h_http_get(h_strf("http://127.0.0.1:%d/jsz", nd->http_port), &r), CORIO_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"config\""));

    struct h_mqtt *sub = h_mqtt_connect(nd->mqtt_port, &(struct h_mqtt_opts){.client_id = "s1"});
    assert_non_null(sub);
    assert_int_equal(h_mqtt_subscribe(sub, "n/#", 1), CORIO_OK);
    struct h_mqtt *pub = h_mqtt_connect(nd->mqtt_port, &(struct h_mqtt_opts){.client_id = "p1"});
    assert_non_null(pub);
    assert_int_equal(h_mqtt_publish(pub, "n/x", "hi", 2, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(sub, "n/#", 1, 5000), 1);
    h_mqtt_close(sub);
    h_mqtt_close(pub);

    pid_t pid = h_proc_pid(nd->proc);
    assert_int_equal(h_nats_stop(n), CORIO_OK);
    assert_true(h_pid_gone(pid));
    assert_false(h_port_open(nd->port));
}

static void cluster_node_is_killed_restarts_and_rejoins(void **state)
{
    (void)state;
    struct h_nats *n = h_nats_start(&(struct h_nats_opts){.nodes = 3, .mqtt = true});
    assert_non_null(n);
    assert_int_equal(n->nodes, 3);
    for (int i = 0; i < 3; i++) {
        struct h_http_resp r;
        assert_int_equal(h_http_get(h_strf("http://127.0.0.1:%d/routez", n->node[i].http_port), &r),
                         CORIO_OK);
        assert_non_null(strstr(r.body, "\"num_routes\": 2"));
    }

    pid_t killed = h_proc_pid(n->node[1].proc);
    assert_int_equal(h_nats_kill_node(n, 1), 128 + 9);
    assert_true(h_pid_gone(killed));
    /* Two of three keep a JetStream quorum and stay healthy. */
    assert_int_equal(h_nats_wait_ready(n, 30000), CORIO_OK);

    assert_int_equal(h_nats_restart_node(n, 1), CORIO_OK);
    assert_int_not_equal(h_proc_pid(n->node[1].proc), killed);
    assert_true(h_proc_log_contains(n->node[1].proc, "Server is ready"));

    /* Traffic crosses the restarted node: in on node 0, out of node 1. */
    struct h_mqtt *sub =
        h_mqtt_connect(n->node[1].mqtt_port, &(struct h_mqtt_opts){.client_id = "sub-n1"});
    assert_non_null(sub);
    assert_int_equal(h_mqtt_subscribe(sub, "c/#", 1), CORIO_OK);
    struct h_mqtt *pub =
        h_mqtt_connect(n->node[0].mqtt_port, &(struct h_mqtt_opts){.client_id = "pub-n0"});
    assert_non_null(pub);
    bool arrived;
    /* Interest propagates between nodes asynchronously: publish until it arrives. */
    H_POLL(arrived,
           h_mqtt_publish(pub, "c/x", "v", 1, 1) == CORIO_OK &&
               h_mqtt_wait_count(sub, "c/#", 1, 200) >= 1,
           10000);
    assert_true(arrived);
    h_mqtt_close(sub);
    h_mqtt_close(pub);

    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        pids[i] = h_proc_pid(n->node[i].proc);
    assert_int_equal(h_nats_stop(n), CORIO_OK);
    for (int i = 0; i < 3; i++)
        assert_true(h_pid_gone(pids[i]));
}

static void client_port_can_be_tls(void **state)
{
    (void)state;
    struct h_pki *pki = h_pki_create("client");
    assert_non_null(pki);
    struct h_nats_opts o = {.certfile = pki->server_cert,
                            .keyfile = pki->server_key,
                            .cafile = pki->ca_cert,
                            .verify = true};
    struct h_nats *n = h_nats_start(&o);
    assert_non_null(n);
    /* nats-server 2.9 sends INFO in the clear, then expects the TLS handshake. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)n->node[0].port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    assert_int_equal(poll(&pf, 1, h_ms(5000)), 1);
    char buf[2048] = {0};
    assert_true(recv(fd, buf, sizeof buf - 1, 0) > 0);
    close(fd);
    assert_non_null(strstr(buf, "INFO "));
    assert_non_null(strstr(buf, "\"tls_required\":true"));
    assert_non_null(strstr(buf, "\"tls_verify\":true"));
}

/* With auth, the client certificate names the user on the MQTT listener too, and the
 * user's permissions hold; a certificate that names no user is turned away. */
static void mqtt_listener_with_tls_and_users(void **state)
{
    (void)state;
    struct h_pki *pki = h_pki_create("alice");
    assert_non_null(pki);
    const char *auth = "authorization {\n  users = [\n"
                       "    { user: \"CN=alice\", permissions: {\n"
                       "        publish: { allow: [\"a.b\"] }\n"
                       "        subscribe: { allow: [\"a.b\", \"$MQTT.sub.>\"] } } }\n"
                       "  ]\n}\n";
    struct h_nats_opts o = {.mqtt = true,
                            .mqtt_tls = true,
                            .certfile = pki->server_cert,
                            .keyfile = pki->server_key,
                            .cafile = pki->ca_cert,
                            .verify = true,
                            .auth = auth};
    struct h_nats *n = h_nats_start(&o);
    assert_non_null(n);
    const char *conf = h_read_file(n->node[0].conf, NULL);
    assert_non_null(strstr(conf, "include auth.conf\n"));
    assert_non_null(strstr(conf, "mqtt {\n"));
    assert_non_null(strstr(strstr(conf, "mqtt {\n"), "    verify_and_map: true\n"));
    assert_string_equal(h_read_file(h_strf("%s/auth.conf", n->node[0].dir), NULL), auth);

    int port = n->node[0].mqtt_port;
    struct h_mqtt_opts mo = {.client_id = "alice",
                             .cafile = pki->ca_cert,
                             .certfile = pki->client_cert,
                             .keyfile = pki->client_key};
    struct h_mqtt *alice = h_mqtt_connect(port, &mo);
    assert_non_null(alice);
    assert_int_equal(h_mqtt_subscribe(alice, "a/b", 1), CORIO_OK);
    assert_int_equal(h_mqtt_subscribe(alice, "c/d", 1), CORIO_ERR_REFUSED);
    assert_int_equal(h_mqtt_publish(alice, "a/b", "hi", 2, 1), CORIO_OK);
    assert_int_equal(h_mqtt_wait_count(alice, "a/b", 1, 5000), 1);
    h_mqtt_close(alice);

    const char *cert, *key;
    assert_int_equal(h_pki_issue(pki, "bob", &cert, &key), CORIO_OK);
    struct h_mqtt_opts bo = {.client_id = "bob",
                             .cafile = pki->ca_cert,
                             .certfile = cert,
                             .keyfile = key,
                             .timeout_ms = 3000};
    assert_null(h_mqtt_connect(port, &bo));
    assert_int_equal(h_nats_stop(n), CORIO_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(one_node_with_mqtt_answers_and_stops),
        H_TEST(cluster_node_is_killed_restarts_and_rejoins),
        H_TEST(client_port_can_be_tls),
        H_TEST(mqtt_listener_with_tls_and_users),
    };
    return h_done(cmocka_run_group_tests(tests, NULL, NULL));
}
