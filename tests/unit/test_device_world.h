/*
 * test_device_world.h - what the device-layer unit tests share: a RAM flash that
 * behaves like ECC flash, an in-memory transport the test scripts, a fake clock and
 * random source, the scripted broker, and the fixture (test_device.c,
 * test_device_cmd.c). A test file defines struct fx_app (its own state, F.app) before
 * including this, and its callbacks after.
 */
#ifndef CORIO_TEST_DEVICE_WORLD_H
#define CORIO_TEST_DEVICE_WORLD_H

#define GW_ID "ab2cd3ef4gh5ij6kl7mn2op3"

/* ---------------------------------------------------------------------------------
 * RAM flash: 8 sectors of 2 KiB, 8-byte program units, each programmed once per erase
 * (a second program fails the test). Power cuts are the store test's business, with
 * the outbox tests' simulator.
 */

#define SECTOR  2048u
#define SECTORS 8u
#define UNIT    8u

struct ram {
    uint8_t data[SECTOR * SECTORS];
    uint8_t written[SECTOR * SECTORS / UNIT];
    int fail_program; /* programs fail with CORIO_ERR_IO while set */
};

static int ram_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len)
{
    struct ram *r = ctx;
    if (addr > sizeof r->data || len > sizeof r->data - addr)
        return CORIO_ERR_INVAL;
    memcpy(buf, r->data + addr, len);
    return CORIO_OK;
}

static int ram_program(void *ctx, uint32_t addr, const uint8_t *buf, size_t len)
{
    struct ram *r = ctx;
    assert_int_equal(addr % UNIT, 0);
    assert_int_equal(len % UNIT, 0);
    assert_true(addr + len <= sizeof r->data);
    if (r->fail_program)
        return CORIO_ERR_IO;
    for (size_t u = addr / UNIT; u < (addr + len) / UNIT; u++) {
        if (r->written[u])
            fail_msg("unit at %zu programmed twice", u * UNIT);
        r->written[u] = 1;
    }
    for (size_t i = 0; i < len; i++) {
        if ((r->data[addr + i] & buf[i]) != buf[i])
            fail_msg("program sets a bit at %zu", (size_t)addr + i);
        r->data[addr + i] &= buf[i];
    }
    return CORIO_OK;
}

static int ram_erase(void *ctx, uint32_t sector)
{
    struct ram *r = ctx;
    if (sector >= SECTORS)
        return CORIO_ERR_INVAL;
    memset(r->data + sector * SECTOR, 0xFF, SECTOR);
    memset(r->written + sector * SECTOR / UNIT, 0, SECTOR / UNIT);
    return CORIO_OK;
}

static void ram_init(struct ram *r)
{
    memset(r, 0, sizeof *r);
    memset(r->data, 0xFF, sizeof r->data);
}

static struct corio_flash ram_port(struct ram *r, uint32_t sectors)
{
    struct corio_flash f = {r, SECTOR, sectors, UNIT, 0, ram_read, ram_program, ram_erase};
    return f;
}

/* ---------------------------------------------------------------------------------
 * The in-memory transport, clock and random source
 */

struct mem {
    uint8_t in[8192]; /* broker -> device */
    size_t in_len, in_off;
    uint8_t out[16384]; /* device -> broker */
    size_t out_len, out_off;
    int open_rc;
    int opens;
    bool is_open;
    bool peer_closed;
};

static uint32_t clock_ms;

static int mem_open(void *ctx)
{
    struct mem *m = ctx;
    m->opens++;
    if (m->open_rc != CORIO_OK)
        return m->open_rc;
    m->is_open = true;
    m->in_len = m->in_off = m->out_len = m->out_off = 0;
    m->peer_closed = false;
    return CORIO_OK;
}

static int mem_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    assert_true(m->is_open);
    if (m->peer_closed)
        return CORIO_ERR_CLOSED;
    assert_true(m->out_len + len <= sizeof m->out);
    memcpy(m->out + m->out_len, buf, len);
    m->out_len += len;
    return (int)len;
}

static int mem_recv(void *ctx, uint8_t *buf, size_t len)
{
    struct mem *m = ctx;
    assert_true(m->is_open);
    size_t avail = m->in_len - m->in_off;
    if (avail == 0)
        return m->peer_closed ? CORIO_ERR_CLOSED : 0;
    size_t n = avail < len ? avail : len;
    memcpy(buf, m->in + m->in_off, n);
    m->in_off += n;
    return (int)n;
}

static void mem_close(void *ctx)
{
    struct mem *m = ctx;
    m->is_open = false;
}

static uint32_t fake_now(void *ctx)
{
    (void)ctx;
    return clock_ms;
}

static int fake_random(void *ctx, uint8_t *buf, size_t len)
{
    static uint32_t x = 12345;
    (void)ctx;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    return CORIO_OK;
}

/* ---------------------------------------------------------------------------------
 * The scripted broker: answers CONNECT, SUBSCRIBE, PINGREQ and QoS 1 PUBLISH as the
 * test's policy says, and records what the device sent.
 */

enum puback_policy { ACK, HOLD, REFUSE, CLOSE_ON_PUBLISH };

#define MAX_PUBS 256

struct pub {
    char topic[64];
    uint8_t payload[512];
    size_t len;
    uint8_t qos;
    bool dup;
    uint16_t id;
};

/* ---------------------------------------------------------------------------------
 * The scripted broker: answers CONNECT (checking the token), SUBSCRIBE, PINGREQ, and
 * each QoS 1 PUBLISH as its policy says; records what the device published and the
 * PUBACKs it gave for downlink messages.
 */

struct broker {
    enum puback_policy policy;
    uint8_t connack_reason; /* 0 accepts */
    int connects;
    uint64_t counters[512]; /* each CONNECT's token counter, in order */
    uint32_t bootcounts[512];
    char username[64];
    char client_id[32];
    int subscribes;
    char filters[4][64];
    struct pub pubs[MAX_PUBS];
    int npubs;
    uint16_t held[64]; /* packet ids of PUBLISHes not yet acknowledged */
    int nheld;
    struct {
        uint16_t id;
        uint8_t reason;
    } acks[64]; /* the device's PUBACKs of downlink messages */
    int nacks;
    int disconnects;
};

struct fx {
    struct ram flash;
    struct mem m;
    struct broker b;
    struct corio_key key;
    uint8_t pub[CORIO_P256_PUB_LEN];
    struct corio_device d;
    struct corio_device_config cfg;
    struct corio_transport tp;
    struct corio_clock clk;
    struct corio_random rnd;
    struct corio_flash port;
    uint8_t tx[2048], rx[512], pack[256], msg[256];
    int links_up, links_down;
    uint64_t time_seen;
    struct fx_app app; /* the test file's own (defined before this header) */
};

static struct fx F;

static void feed(const uint8_t *b, size_t n)
{
    assert_true(F.m.in_len + n <= sizeof F.m.in);
    memcpy(F.m.in + F.m.in_len, b, n);
    F.m.in_len += n;
}
#define FEED(...) feed((const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static size_t varint(const uint8_t *p, size_t n, uint32_t *v)
{
    *v = 0;
    for (size_t i = 0; i < 4 && i < n; i++) {
        *v |= (uint32_t)(p[i] & 0x7F) << (7 * i);
        if (!(p[i] & 0x80))
            return i + 1;
    }
    fail_msg("bad variable byte integer");
    return 0;
}

static uint16_t be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Reads a CONNECT (MQTT 5): client id, username, and the password's EAT counter. */
static void on_connect_packet(const uint8_t *pkt, size_t n)
{
    uint32_t rem;
    size_t p = 1 + varint(pkt + 1, n - 1, &rem);
    assert_int_equal(be16(pkt + p), 4);
    assert_memory_equal(pkt + p + 2, "MQTT", 4);
    p += 6;
    assert_int_equal(pkt[p], 5);
    uint8_t flags = pkt[p + 1];
    p += 4;
    uint32_t plen;
    p += varint(pkt + p, n - p, &plen);
    p += plen;
    uint16_t l = be16(pkt + p);
    snprintf(F.b.client_id, sizeof F.b.client_id, "%.*s", l, (const char *)pkt + p + 2);
    p += 2u + l;
    assert_false(flags & 0x04); /* no will */
    assert_true(flags & 0x80);
    l = be16(pkt + p);
    snprintf(F.b.username, sizeof F.b.username, "%.*s", l, (const char *)pkt + p + 2);
    p += 2u + l;
    uint64_t counter = 0;
    uint32_t boot = 0;
    if (flags & 0x40) {
        l = be16(pkt + p);
        uint8_t tok[CORIO_EAT_MAX_SIZE];
        int t = corio_base64url_decode((const char *)pkt + p + 2, l, tok, sizeof tok);
        assert_true(t > 0);
        struct corio_eat_claims c;
        struct corio_eat_expect e = {.aud = GW_ID, .aud_len = 24, .last_counter = 0};
        const char *why = NULL;
        int rc = corio_eat_verify(&corio_crypto_psa_ops, tok, (size_t)t, F.pub, sizeof F.pub, &e,
                                  &c, &why);
        if (rc != CORIO_OK)
            fail_msg("the token does not verify: %s", why ? why : "?");
        assert_true(c.has_counter);
        counter = c.counter;
        boot = (uint32_t)c.bootcount;
    }
    assert_true(F.b.connects < 512);
    F.b.subscribes = 0; /* counted per connection */
    F.b.counters[F.b.connects] = counter;
    F.b.bootcounts[F.b.connects] = boot;
    F.b.connects++;
    if (!(flags & 0x40))
        FEED(0x20, 3, 0, 0x86, 0); /* no token: bad user name or password, as a gateway */
    else if (F.b.connack_reason)
        FEED(0x20, 3, 0, F.b.connack_reason, 0);
    else
        FEED(0x20, 3, 0, 0, 0);
}

static void puback(uint16_t id, uint8_t reason)
{
    if (reason)
        FEED(0x40, 3, (uint8_t)(id >> 8), (uint8_t)id, reason);
    else
        FEED(0x40, 2, (uint8_t)(id >> 8), (uint8_t)id);
}

/* Handles every whole packet the device sent since the last call. */
static void broker_step(void)
{
    for (;;) {
        size_t len;
        const uint8_t *pkt = F.m.out + F.m.out_off;
        size_t avail = F.m.out_len - F.m.out_off;
        if (!F.m.is_open || corio_mqtt_frame(pkt, avail, &len) != CORIO_OK || len > avail)
            return;
        F.m.out_off += len;
        switch (pkt[0] >> 4) {
        case 1:
            on_connect_packet(pkt, len);
            break;
        case 8: { /* SUBSCRIBE: id, props, one filter */
            uint32_t rem, plen;
            size_t p = 1 + varint(pkt + 1, len - 1, &rem);
            uint16_t id = be16(pkt + p);
            p += 2;
            p += varint(pkt + p, len - p, &plen) + plen;
            uint16_t fl = be16(pkt + p);
            assert_true(F.b.subscribes < 4);
            snprintf(F.b.filters[F.b.subscribes++], 64, "%.*s", fl, (const char *)pkt + p + 2);
            FEED(0x90, 4, (uint8_t)(id >> 8), (uint8_t)id, 0, 1);
            break;
        }
        case 12: /* PINGREQ */
            FEED(0xD0, 0);
            break;
        case 4: /* PUBACK of a downlink message: its id and reason code */
            assert_true(F.b.nacks < 64);
            F.b.acks[F.b.nacks].id = be16(pkt + 2);
            F.b.acks[F.b.nacks].reason = len > 4 ? pkt[4] : 0;
            F.b.nacks++;
            break;
        case 14: /* DISCONNECT */
            F.b.disconnects++;
            break;
        case 3: {
            struct corio_mqtt_packet p;
            assert_int_equal(corio_mqtt_decode(CORIO_MQTT_V5, pkt, len, &p), CORIO_OK);
            struct corio_mqtt_publish *m = &p.u.publish;
            assert_true(F.b.npubs < MAX_PUBS);
            struct pub *r = &F.b.pubs[F.b.npubs++];
            snprintf(r->topic, sizeof r->topic, "%.*s", m->topic_len, m->topic);
            assert_true(m->payload_len <= sizeof r->payload);
            memcpy(r->payload, m->payload, m->payload_len);
            r->len = m->payload_len;
            r->qos = m->qos;
            r->dup = m->dup;
            r->id = m->packet_id;
            if (m->qos == 0)
                break;
            if (F.b.policy == ACK)
                puback(m->packet_id, 0);
            else if (F.b.policy == REFUSE)
                puback(m->packet_id, 0x97);
            else if (F.b.policy == HOLD)
                F.b.held[F.b.nheld++] = m->packet_id;
            else
                F.m.peer_closed = true; /* a full gateway: no PUBACK, the connection ends */
            break;
        }
        default:
            fail_msg("unexpected packet 0x%02X", pkt[0]);
        }
    }
}

/* Runs device and broker until neither has anything more to say. */
static void run(void)
{
    for (int i = 0; i < 50; i++) {
        size_t before_out = F.m.out_len, before_in = F.m.in_len;
        assert_int_equal(corio_device_process(&F.d), CORIO_OK);
        broker_step();
        if (F.m.out_len == before_out && F.m.in_len == before_in && F.m.in_off == F.m.in_len)
            return;
    }
}

static void advance(uint32_t ms)
{
    clock_ms += ms;
}

/* Lets every timer that is due within ms fire, stepping the clock. */
static void run_for(uint32_t ms)
{
    while (ms) {
        uint32_t w = corio_device_poll_ms(&F.d);
        if (w == 0)
            w = 1;
        if (w > ms)
            w = ms;
        advance(w);
        ms -= w;
        run();
    }
}

/* ---------------------------------------------------------------------------------
 * Fixture
 */

static void on_link(void *app, bool up, int err)
{
    (void)app;
    (void)err;
    if (up)
        F.links_up++;
    else
        F.links_down++;
}

static void on_time(void *app, uint64_t ms)
{
    (void)app;
    F.time_seen = ms;
}

/* The device's callbacks: each test file defines them, on_link and on_time among them. */
static const struct corio_device_callbacks callbacks;

static int group_setup(void **state)
{
    (void)state;
    return corio_crypto_psa_init() == CORIO_OK ? 0 : -1;
}

/* A device on blank flash, not started. */
static void fixture(void)
{
    memset(&F, 0, sizeof F);
    clock_ms = UINT32_MAX - 5000;
    ram_init(&F.flash);
    assert_int_equal(corio_key_generate(&corio_crypto_psa_ops, 0, 0, &F.key), CORIO_OK);
    assert_int_equal(corio_key_public(&F.key, F.pub), CORIO_OK);
    F.tp = (struct corio_transport){&F.m, mem_open, mem_send, mem_recv, mem_close};
    F.clk = (struct corio_clock){NULL, fake_now};
    F.rnd = (struct corio_random){NULL, fake_random};
    F.port = ram_port(&F.flash, SECTORS);
    corio_device_config_init(&F.cfg);
    F.cfg.key = &F.key;
    F.cfg.gateway_id = GW_ID;
    F.cfg.transport = &F.tp;
    F.cfg.clock = &F.clk;
    F.cfg.random = &F.rnd;
    F.cfg.flash = &F.port;
    F.cfg.tx = F.tx;
    F.cfg.tx_len = sizeof F.tx;
    F.cfg.rx = F.rx;
    F.cfg.rx_len = sizeof F.rx;
    F.cfg.pack = F.pack;
    F.cfg.pack_len = sizeof F.pack;
    F.cfg.msg = F.msg;
    F.cfg.msg_len = sizeof F.msg;
    F.cfg.heartbeat_ms = 0;
    F.cfg.backoff.initial_ms = 1000;
    F.cfg.backoff.max_ms = 8000;
    F.cfg.callbacks = &callbacks;
}

static int teardown(void **state)
{
    (void)state;
    corio_key_close(&F.key);
    return 0;
}

static void boot(void)
{
    assert_int_equal(corio_device_init(&F.d, &F.cfg), CORIO_OK);
}

/* Boots and connects. */
static void online(void)
{
    boot();
    assert_int_equal(corio_device_start(&F.d), CORIO_OK);
    run();
    assert_true(F.d.connected);
}

/* A reboot: the device's RAM is gone, the flash stays; the old connection dies. */
static void reboot(void)
{
    F.m.is_open = false;
    F.m.in_len = F.m.in_off = F.m.out_len = F.m.out_off = 0;
    memset(&F.d, 0xA5, sizeof F.d);
}

static uint32_t sample(double v)
{
    uint32_t seq = 0;
    assert_int_equal(corio_device_begin(&F.d), CORIO_OK);
    assert_int_equal(corio_device_add_number(&F.d, "temp", "Cel", v), CORIO_OK);
    assert_int_equal(corio_device_add_bool(&F.d, "door", NULL, v > 20), CORIO_OK);
    assert_int_equal(corio_device_commit(&F.d, &seq), CORIO_OK);
    broker_step(); /* the broker reads what was published; the device hears nothing yet */
    return seq;
}

static struct corio_device_stats stats(void)
{
    struct corio_device_stats st;
    assert_int_equal(corio_device_stats(&F.d, &st), CORIO_OK);
    return st;
}

/* The extension fields and first value of a published pack. */
static struct corio_senml_ext pack_ext(const struct pub *p, double *first)
{
    char names[256];
    struct corio_senml_dec dec;
    struct corio_senml_record r;
    enum corio_format fmt = strstr(p->topic, "/up/json") ? CORIO_FORMAT_JSON : CORIO_FORMAT_CBOR;
    assert_int_equal(corio_senml_dec_init(&dec, fmt, p->payload, p->len, names, sizeof names),
                     CORIO_OK);
    struct corio_senml_ext x = *corio_senml_dec_ext(&dec);
    assert_int_equal(corio_senml_dec_next(&dec, &r), 1);
    char want[64];
    snprintf(want, sizeof want, "urn:corio:%s:temp", corio_device_id(&F.d));
    assert_string_equal(r.name, want);
    if (first)
        *first = r.v;
    assert_int_equal(corio_senml_dec_next(&dec, &r), 1);
    assert_int_equal(corio_senml_dec_next(&dec, &r), 0);
    return x;
}

#endif /* CORIO_TEST_DEVICE_WORLD_H */
