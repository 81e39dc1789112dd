/* test_cloud_nats_chaos.c - corio-cloud scaled out on a three-node JetStream cluster
 * (stream replicated three times) and PostgreSQL, with the test playing a gateway that
 * sends every batch again until its ack comes, as corio-gateway does. Failures: an
 * ingest instance SIGKILLed in the middle of the batches it pulled (JetStream delivers
 * them again to another instance; stored once); the stream's leader node killed;
 * PostgreSQL crashed and restarted under load, then away for a while (instances back off,
 * the stream keeps the batches, nothing lost); and four instances sharing one stream
 * store every message exactly once. */
#include "test_cloud_nats_world.h"

#include <signal.h>

static const struct h_nats_opts cluster = {.nodes = 3, .mqtt = true};

/* nats-server 2.9 makes its MQTT streams (sessions, QoS 1 messages) when the first MQTT
 * client comes, with as many replicas as it sees servers then, which a route being
 * re-established can make two; with two replicas, losing one node stalls every MQTT
 * session. A deployment sets mqtt { stream_replicas: 3 }; so does this, in the
 * configuration the harness wrote, before any MQTT client came. */
static void mqtt_streams_on_three_nodes(void)
{
    assert_int_equal(h_nats_stop(W.nats), CORIO_OK);
    for (int i = 0; i < W.nats->nodes; i++) {
        struct h_nats_node *nd = &W.nats->node[i];
        const char *text = h_read_file(nd->conf, NULL);
        assert_non_null(text);
        const char *listen = h_strf("mqtt {\n  listen: 127.0.0.1:%d\n", nd->mqtt_port);
        const char *at = strstr(text, listen);
        assert_non_null(at);
        size_t head = (size_t)(at - text) + strlen(listen);
        assert_int_equal(h_write_file(nd->conf, h_strf("%.*s  stream_replicas: 3\n%s", (int)head,
                                                       text, text + head)),
                         CORIO_OK);
    }
    for (int i = 0; i < W.nats->nodes; i++)
        assert_int_equal(h_proc_restart(W.nats->node[i].proc), CORIO_OK);
    assert_int_equal(h_nats_wait_ready(W.nats, 30000), CORIO_OK);
}

static void instance_killed_mid_batch(void **state)
{
    (void)state;
    world_up(&cluster, 3);
    instance_up(0, 16);
    /* Frozen while the stream fills, so that its first pull takes 16 batches. */
    assert_int_equal(h_proc_signal(W.inst[0].p, SIGSTOP), CORIO_OK);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    enum { N = 40, PER = 5 };
    make_stream(x, N, PER);
    for (int i = 0; i < N; i++)
        publish(&x[i]);
    bool ok;
    H_POLL(ok, stream_messages(0) == N, 20000);
    assert_true(ok);
    assert_int_equal(h_proc_signal(W.inst[0].p, SIGCONT), CORIO_OK);
    /* A few batches in: the rest of its pull is taken but not acknowledged. */
    H_POLL(ok, metric_of(0, "corio_cloud_batches_received_total") >= 3, 20000);
    assert_true(ok);
    assert_int_equal(h_proc_kill(W.inst[0].p), 128 + SIGKILL);

    /* Another instance gets them all, those the dead one held after the ack wait. */
    instance_up(1, 16);
    H_POLL(ok, stat_of(1, "batches") == N, 40000);
    assert_true(ok);
    assert_true(metric_of(1, "corio_cloud_batches_redelivered_total") >= 1);
    assert_true(send_until_acked(x, N, 40000));
    expect_stored_once(1, N, PER);
    H_POLL(ok, stream_messages(0) == 0, 10000);
    assert_true(ok);
}

static void stream_leader_node_killed(void **state)
{
    (void)state;
    world_up(&cluster, 3);
    mqtt_streams_on_three_nodes();
    instance_up(0, 8);
    instance_up(1, 8);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    enum { N = 45, PER = 4 };
    make_stream(x, N, PER);
    assert_true(send_until_acked(x, 15, 40000));

    /* The stream's leader dies (a follower when the leader is the node the gateway
     * talks to); two of three nodes keep a quorum and elect another. */
    const char *leader = stream_leader(0);
    assert_non_null(leader);
    int victim = leader[1] - '0';
    if (victim == 0)
        victim = 1;
    assert_int_equal(h_nats_kill_node(W.nats, victim), 128 + SIGKILL);
    assert_true(send_until_acked(x, 30, 60000));
    /* It comes back and catches up while batches keep coming. (Not waiting for its
     * /healthz: nats-server 2.9 may report an idle MQTT consumer "not current" on a
     * restarted node for minutes.) */
    struct h_nats_node *nd = &W.nats->node[victim];
    assert_int_equal(h_proc_restart(nd->proc), CORIO_OK);
    assert_int_equal(h_proc_wait_port(nd->proc, nd->port, 10000), CORIO_OK);
    assert_true(send_until_acked(x, N, 40000));
    expect_stored_once(0, N, PER);
    assert_true(h_proc_alive(W.inst[0].p));
    assert_true(h_proc_alive(W.inst[1].p));
}

static void database_crashed_then_away(void **state)
{
    (void)state;
    world_up(&cluster, 3);
    instance_up(0, 8);
    instance_up(1, 8);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    enum { N = 45, PER = 4 };
    make_stream(x, N, PER);

    /* Restarted under load: crashed (recovery on start) while batches are coming. */
    for (int i = 0; i < 15; i++)
        publish(&x[i]);
    assert_int_equal(h_pg_crash(W.pg), CORIO_OK);
    assert_int_equal(h_pg_restart(W.pg), CORIO_OK);
    assert_true(send_until_acked(x, 15, 40000));

    /* Away for a while: nothing is acknowledged, the instances back off, the stream
     * keeps the batches. */
    double failed = metric_of(0, "corio_cloud_batches_failed_total") +
                    metric_of(1, "corio_cloud_batches_failed_total");
    assert_int_equal(h_pg_stop(W.pg), CORIO_OK);
    for (int i = 15; i < 30; i++)
        publish(&x[i]);
    /* Failures of this outage, not the crash's. */
    bool ok;
    H_POLL(ok,
           metric_of(0, "corio_cloud_batches_failed_total") +
                   metric_of(1, "corio_cloud_batches_failed_total") >=
               failed + 2,
           20000);
    assert_true(ok);
    H_POLL(ok, stream_messages(0) >= 1, 10000);
    assert_true(ok);
    scan_acks(W.gw, x, N);
    for (int i = 15; i < 30; i++)
        assert_false(x[i].acked);

    /* Back: everything the stream kept is stored, once. */
    assert_int_equal(h_pg_restart(W.pg), CORIO_OK);
    assert_true(send_until_acked(x, N, 60000));
    expect_stored_once(0, N, PER);
    H_POLL(ok, stream_messages(0) == 0, 10000);
    assert_true(ok);
}

static void four_instances_store_everything_once(void **state)
{
    (void)state;
    world_up(&cluster, 3);
    for (int i = 0; i < 4; i++)
        instance_up(i, 2);
    W.gw = gateway_connect(0);
    struct bb *x = batches_new();
    enum { N = 80, PER = 5 };
    make_stream(x, N, PER);
    /* Some batches twice from the start, as a gateway's resend after a lost ack does. */
    for (int i = 0; i < N; i += 4)
        publish(&x[i]);
    assert_true(send_until_acked(x, N, 60000));
    for (int i = 0; i < 4; i++)
        expect_stored_once(i, N, PER);
    for (int i = 0; i < 4; i++)
        assert_true(metric_of(i, "corio_cloud_batches_received_total") >= 1);
    assert_true(stat_of(0, "duplicates") >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(instance_killed_mid_batch),
        H_TEST(stream_leader_node_killed),
        H_TEST(database_crashed_then_away),
        H_TEST(four_instances_store_everything_once),
    };
    return h_done(cmocka_run_group_tests_name("integration.cloud_nats_chaos", tests, NULL, NULL));
}
