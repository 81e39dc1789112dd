/*
 * test_device_world.h - what the device-layer unit tests share: a RAM flash that
 * behaves like ECC flash, an in-memory transport the test scripts, a fake clock and
 * random source, and the records of the scripted broker (test_device.c,
 * test_device_cmd.c). Each test keeps its own broker state and fixture.
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

#endif /* CORIO_TEST_DEVICE_WORLD_H */
