/*
 * main.c - the footprint example's board bring-up and main loop on the bare-metal
 * ports: the port's clock and random generator, the board's network as the MQTT
 * transport, and one loop that samples, publishes and sleeps until the client next
 * needs it.
 */
#include "board.h"
#include "fp_app.h"

#if defined(__arm__)
#include "port_cm4.h"
#elif defined(__riscv)
#include "port_rv32.h"
#else
#error "the footprint example runs on the Cortex-M4 or RV32 port"
#endif

#include "corio/crypto_psa.h"
#include "mbedtls/memory_buffer_alloc.h"

#if defined(__arm__)
static struct corio_cm4_random trng_state;

void SysTick_Handler(void);
void SysTick_Handler(void)
{
    corio_cm4_systick_isr();
}
#else
static struct corio_rv32_random trng_state;
static const struct corio_rv32_mtime mtime = {(const volatile uint32_t *)BOARD_MTIME_ADDR,
                                              BOARD_MTIME_HZ};
#endif

static int bring_up(struct corio_clock *clk, struct corio_random *rnd)
{
#if defined(__arm__)
    static const struct corio_cm4_trng trng = {NULL, board_trng_read};
    int err = corio_cm4_clock_init(clk, BOARD_CORE_HZ);

    if (err == CORIO_OK)
        err = corio_cm4_random_init(&trng_state, &trng, rnd);
    if (err == CORIO_OK)
        corio_cm4_psa_random(rnd);
#else
    static const struct corio_rv32_trng trng = {NULL, board_trng_read};
    int err = corio_rv32_clock_init(clk, &mtime);

    if (err == CORIO_OK)
        err = corio_rv32_random_init(&trng_state, &trng, rnd);
    if (err == CORIO_OK)
        corio_rv32_psa_random(rnd);
#endif
    return err;
}

int main(void)
{
    static struct corio_clock clk;
    static struct corio_random rnd;
    static const struct corio_transport net = {NULL, board_net_open, board_net_send,
                                               board_net_recv, board_net_close};
    uint32_t next_sample, next_hb;
    int err;

    mbedtls_memory_buffer_alloc_init(fp_mbedtls_heap, sizeof fp_mbedtls_heap);
    err = bring_up(&clk, &rnd);
    if (err == CORIO_OK)
        err = corio_crypto_psa_init();
    if (err == CORIO_OK)
        err = fp_identity_init();
#if FP_HAVE_OUTBOX
    if (err == CORIO_OK)
        err = fp_outbox_open();
#endif
#if FP_TLS
    static struct corio_transport tls;

    if (err == CORIO_OK)
        err = fp_tls_wrap(&net, &tls);
    if (err == CORIO_OK)
        err = fp_mqtt_start(&tls, &clk, &rnd);
#else
    if (err == CORIO_OK)
        err = fp_mqtt_start(&net, &clk, &rnd);
#endif
    if (err != CORIO_OK) {
        board_reset();
        return 1;
    }

    next_sample = next_hb = clk.now_ms(clk.ctx);
    for (;;) {
        uint32_t now, wait = fp_mqtt_step();

        now = clk.now_ms(clk.ctx);
        if ((int32_t)(now - next_sample) >= 0) {
            (void)fp_telemetry_sample(now);
            next_sample = now + FP_SAMPLE_MS;
        }
        if ((int32_t)(now - next_hb) >= 0) {
            (void)fp_heartbeat(now);
            next_hb = now + FP_HEARTBEAT_MS;
        }
        if (wait > next_sample - now)
            wait = next_sample - now;
        board_sleep(wait);
    }
}
