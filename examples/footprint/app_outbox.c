/*
 * app_outbox.c - the footprint example's outbox (FP_HAVE_OUTBOX): every message is
 * appended to the persistent ring on the board's flash before it is published, its
 * sequence number is the QoS 1 token, and only a PUBACK acknowledges it
 * (docs/sdk-mqtt.md "Plugging in the outbox"). The client hands every unacknowledged
 * token back when a connection ends (drop_inflight_on_disconnect), so the pump simply
 * starts again from the oldest unacknowledged message after each CONNACK.
 */
#include "fp_app.h"

#if FP_HAVE_OUTBOX
#include "board.h"
#include "corio/crypto_psa.h"
#include "corio/outbox.h"

static struct corio_dev_outbox ob;
static struct corio_dev_outbox_iter pump_it;
static uint8_t pump_buf[FP_PAYLOAD_MAX];

/* A 256 KB region of 2 KB pages programmed 8 bytes at a time (STM32L4 internal flash;
 * a unit is never programmed twice). */
static const struct corio_flash flash = {NULL, 2048, 128, 8, 0, board_flash_read,
                                         board_flash_program, board_flash_erase};

int fp_outbox_open(void)
{
    struct corio_dev_outbox_config cfg = {0};
    int err;

    /* A fresh epoch must differ from every earlier one: 32 random bits (in whatever
     * byte order). */
    err = corio_random(&corio_crypto_psa_ops, (uint8_t *)&cfg.fresh_epoch, sizeof cfg.fresh_epoch);
    if (err != CORIO_OK)
        return err;
    err = corio_dev_outbox_open(&ob, &flash, &cfg);
    corio_dev_outbox_iter_init(&pump_it, 0);
    return err;
}

int fp_outbox_store(enum fp_kind kind, const uint8_t *payload, size_t len, uint32_t now_ms)
{
    struct corio_dev_outbox_meta meta = {0};

    meta.type = (uint8_t)kind;
    meta.time_kind = CORIO_DEV_OUTBOX_TIME_UPTIME_MS;
    meta.boot_count = fp_boot_count;
    meta.time_ms = now_ms;
    return corio_dev_outbox_append(&ob, &meta, payload, len, NULL);
}

void fp_outbox_pump(void)
{
    for (;;) {
        struct corio_dev_outbox_entry e;
        int err = corio_dev_outbox_iter_next(&ob, &pump_it, CORIO_DEV_OUTBOX_UNACKED, &e, pump_buf,
                                             sizeof pump_buf);

        if (err == CORIO_ERR_NOTFOUND)
            return;
        if (err != CORIO_OK)
            continue; /* unreadable or oversized: skipped, and counted by the cloud as a gap */
        if (e.meta.type >= FP_KIND_COUNT)
            continue;
        err = fp_publish((enum fp_kind)e.meta.type, pump_buf, e.len, e.seq);
        if (err == CORIO_ERR_AGAIN || err == CORIO_ERR_FULL || err == CORIO_ERR_STATE) {
            /* this one again, after the next process or CONNACK */
            corio_dev_outbox_iter_init(&pump_it, e.seq - 1u);
            return;
        }
    }
}

void fp_outbox_done(uint64_t token, int result)
{
    if (result == CORIO_OK)
        (void)corio_dev_outbox_ack(&ob, (uint32_t)token);
    else
        corio_dev_outbox_iter_init(&pump_it, 0); /* the connection ended: from the oldest */
}

void fp_outbox_figures(uint32_t *epoch, uint32_t *last_seq, uint32_t *depth, uint32_t *drops)
{
    struct corio_dev_outbox_stats st = {0};

    (void)corio_dev_outbox_stats(&ob, &st);
    *epoch = st.epoch;
    *last_seq = st.last_seq;
    *depth = st.depth;
    *drops = st.drops;
}
#else
typedef int fp_outbox_unused; /* ISO C forbids an empty translation unit */
#endif
