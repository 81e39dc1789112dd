/*
 * device.c - a minimal Corio device on the POSIX port, written the way an application
 * for a board is written: the "board" half below gives the SDK its ports (a TCP
 * connection to the gateway, a file standing in for the flash, the clock, the random
 * source, a key kept in a file, a sensor); the "application" half is what carries over
 * to a microcontroller unchanged: a device (include/corio/device.h) that measures a
 * temperature every few seconds, keeps every pack in its outbox until the gateway has
 * it, sends heartbeats, takes its time from the gateway, and runs two commands.
 *
 *     corio-example-device [-h host] [-p port] [-d dir] [-g gateway-id] [-i interval-ms]
 *                          [-n packs] [-3] [-j]
 *
 * -d is the device's own directory (default "."): device.key holds its P-256 key (made
 * on the first boot, as a board would make it, or provisioned by copying the file
 * there) and flash.bin its flash (counter store and outbox). -g names the gateway the
 * tokens are for (its 24-character short id), -n stops once that many outbox entries
 * (packs, command answers) are acknowledged and none is pending (0: run until SIGINT or
 * SIGTERM), -3 speaks MQTT 3.1.1 instead of 5, -j sends JSON packs instead of CBOR. The device logs
 * in with a single-step token (username = its DID, password = an EAT), which a Corio gateway checks
 * and a bare Mosquitto that allows anonymous clients ignores.
 *
 * Commands (dn/cmd): "interval" with a number of milliseconds (1000..3600000) sets the
 * sampling interval and answers the new one; "uptime" answers the seconds since boot.
 *
 * On a board: replace the board half (sockets by the modem or lwIP, the file by the
 * flash controller, the key file by a secure element or a key in a protected page),
 * keep the rest.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "corio/cbor.h"
#include "corio/crypto_psa.h"
#include "corio/device.h"
#include "corio/error.h"
#include "corio/port_posix.h"
#include "corio/port_posix_flash.h"

/* ---- the board ---------------------------------------------------------------- */

/* The flash: 2 counter-store sectors and a 30-sector outbox of 2 KB pages programmed 8
 * bytes at a time, like an STM32L4's internal flash (a unit is programmed once). */
#define FLASH_SECTOR  2048u
#define FLASH_SECTORS 32u
#define FLASH_PROG    8u

struct board {
    struct corio_posix_tcp tcp;
    struct corio_posix_flash flash_file;
    struct corio_transport net;
    struct corio_flash flash;
    struct corio_clock clock;
    struct corio_random random;
    struct corio_key key;
};

/* The device key: read from path, or on the first boot made from the random source
 * and written there (a board keeps it in a protected flash page or a secure element). */
static int board_key(struct board *b, const char *path)
{
    uint8_t scalar[CORIO_P256_SCALAR_LEN];
    int err = CORIO_OK;
    int fd = open(path, O_RDONLY);

    if (fd >= 0) {
        ssize_t n = read(fd, scalar, sizeof scalar);
        close(fd);
        if (n != (ssize_t)sizeof scalar)
            err = CORIO_ERR_MALFORMED;
    } else if (errno == ENOENT) {
        do {
            err = corio_random(&corio_crypto_psa_ops, scalar, sizeof scalar);
        } while (err == CORIO_OK && !corio_p256_scalar_check(scalar));
        fd = err == CORIO_OK ? open(path, O_WRONLY | O_CREAT | O_EXCL, 0600) : -1;
        if (err == CORIO_OK &&
            (fd < 0 || write(fd, scalar, sizeof scalar) != (ssize_t)sizeof scalar))
            err = CORIO_ERR_IO;
        if (fd >= 0 && close(fd) != 0)
            err = CORIO_ERR_IO;
    } else {
        err = CORIO_ERR_IO;
    }
    if (err == CORIO_OK)
        err = corio_key_import(&corio_crypto_psa_ops, 0, 0, scalar, &b->key);
    memset(scalar, 0, sizeof scalar);
    return err;
}

static int board_init(struct board *b, const char *host, uint16_t port, const char *dir)
{
    char path[4096];
    int err = corio_crypto_psa_init();

    if (err == CORIO_OK)
        err = corio_posix_tcp_init(&b->tcp, host, port, 5000);
    if (err != CORIO_OK)
        return err;
    corio_posix_tcp_transport(&b->tcp, &b->net);
    corio_posix_clock(&b->clock);
    corio_posix_random(&b->random);
    snprintf(path, sizeof path, "%s/flash.bin", dir);
    err = corio_posix_flash_open(&b->flash_file, path, FLASH_SECTOR, FLASH_SECTORS, FLASH_PROG, 0);
    if (err != CORIO_OK)
        return err;
    corio_posix_flash_port(&b->flash_file, &b->flash);
    snprintf(path, sizeof path, "%s/device.key", dir);
    return board_key(b, path);
}

/* The sensor: a room temperature that drifts slowly, in degrees Celsius. */
static double board_temperature(const struct board *b)
{
    double t = b->clock.now_ms(b->clock.ctx) / 1000.0;
    return round((21.0 + 1.5 * sin(t / 60.0)) * 100.0) / 100.0;
}

/* Sleeps until the socket is ready or ms pass. */
static void board_wait(const struct board *b, uint32_t ms, bool want_write)
{
    (void)corio_posix_tcp_wait(&b->tcp, ms, want_write);
}

static void board_free(struct board *b)
{
    corio_key_close(&b->key);
    corio_posix_flash_close(&b->flash_file);
    corio_crypto_psa_deinit();
}

/* ---- the application ------------------------------------------------------------ */

struct app {
    struct corio_device dev;
    uint32_t interval_ms;
    bool up;
};

/* Buffers the SDK works in (device.h says what each holds). */
static uint8_t tx[1536], rx[512], pack[256], msg[256];

static struct app app = {.interval_ms = 5000};
static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_link(void *user, bool up, int err)
{
    struct app *a = user;
    a->up = up;
    if (up)
        printf("connected\n");
    else if (err != CORIO_OK)
        printf("link down: %s\n", corio_strerror(err));
    fflush(stdout);
}

static void on_time(void *user, uint64_t unix_ms)
{
    (void)user;
    printf("time from the gateway: %llu ms\n", (unsigned long long)unix_ms);
    fflush(stdout);
}

/* "interval": args a number of milliseconds; the result is the interval in force. */
static int cmd_interval(void *user, const struct corio_cmd *cmd, struct corio_cbor_enc *result)
{
    struct app *a = user;
    struct corio_cbor_dec d;
    uint64_t ms;

    corio_cbor_dec_init(&d, cmd->args, cmd->args_len);
    if (corio_cbor_expect_uint(&d, &ms) != CORIO_OK || corio_cbor_dec_finish(&d) != CORIO_OK)
        return CORIO_ERR_MALFORMED;
    if (ms < 1000 || ms > 3600000)
        return CORIO_ERR_INVAL;
    a->interval_ms = (uint32_t)ms;
    return corio_cbor_put_uint(result, ms);
}

/* "uptime": no args; the result is the seconds since boot. */
static int cmd_uptime(void *user, const struct corio_cmd *cmd, struct corio_cbor_enc *result)
{
    struct app *a = user;
    struct corio_device_stats st;

    (void)cmd;
    corio_device_stats(&a->dev, &st);
    return corio_cbor_put_uint(result, st.uptime_ms / 1000u);
}

static int sample(struct app *a, double celsius)
{
    uint32_t seq;
    int err = corio_device_begin(&a->dev);

    if (err == CORIO_OK)
        err = corio_device_add_number(&a->dev, "temp", "Cel", celsius);
    if (err == CORIO_OK)
        return corio_device_commit(&a->dev, &seq);
    corio_device_abort(&a->dev);
    return err;
}

static void usage(void)
{
    fprintf(stderr, "usage: corio-example-device [-h host] [-p port] [-d dir] [-g gateway-id]\n"
                    "                            [-i interval-ms] [-n packs] [-3] [-j]\n");
}

int main(int argc, char **argv)
{
    static const struct corio_device_command commands[] = {{"interval", cmd_interval},
                                                           {"uptime", cmd_uptime}};
    static const struct corio_device_callbacks callbacks = {.on_link = on_link, .on_time = on_time};
    static struct board b;
    const char *host = "127.0.0.1", *dir = ".";
    const char *gateway = "aaaaaaaaaaaaaaaaaaaaaaaa"; /* any gateway, for a bare broker */
    unsigned long port = 1883, packs = 0;
    bool v311 = false, json = false;
    struct corio_device_config cfg;
    struct corio_device_stats st;
    int c, err;

    while ((c = getopt(argc, argv, "h:p:d:g:i:n:3j")) != -1) {
        switch (c) {
        case 'h':
            host = optarg;
            break;
        case 'p':
            port = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'g':
            gateway = optarg;
            break;
        case 'i':
            app.interval_ms = (uint32_t)strtoul(optarg, NULL, 10);
            break;
        case 'n':
            packs = strtoul(optarg, NULL, 10);
            break;
        case '3':
            v311 = true;
            break;
        case 'j':
            json = true;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (optind != argc || port == 0 || port > 65535 || app.interval_ms == 0) {
        usage();
        return 2;
    }

    err = board_init(&b, host, (uint16_t)port, dir);
    if (err != CORIO_OK) {
        fprintf(stderr, "corio-example-device: board: %s\n", corio_strerror(err));
        board_free(&b);
        return 1;
    }

    corio_device_config_init(&cfg);
    cfg.key = &b.key;
    cfg.gateway_id = gateway;
    cfg.transport = &b.net;
    cfg.clock = &b.clock;
    cfg.random = &b.random;
    cfg.flash = &b.flash;
    cfg.tx = tx;
    cfg.tx_len = sizeof tx;
    cfg.rx = rx;
    cfg.rx_len = sizeof rx;
    cfg.pack = pack;
    cfg.pack_len = sizeof pack;
    cfg.msg = msg;
    cfg.msg_len = sizeof msg;
    cfg.format = json ? CORIO_FORMAT_JSON : CORIO_FORMAT_CBOR;
    cfg.mqtt_version = v311 ? CORIO_MQTT_V311 : CORIO_MQTT_V5;
    cfg.callbacks = &callbacks;
    cfg.app = &app;
    cfg.commands = commands;
    cfg.ncommands = sizeof commands / sizeof commands[0];
    err = corio_device_init(&app.dev, &cfg);
    if (err == CORIO_OK)
        err = corio_device_start(&app.dev);
    if (err != CORIO_OK) {
        fprintf(stderr, "corio-example-device: %s\n", corio_strerror(err));
        board_free(&b);
        return 1;
    }
    corio_device_stats(&app.dev, &st);
    printf("device %s (%s), boot %u, outbox epoch %u with %u unacknowledged\n",
           corio_device_id(&app.dev), corio_device_did(&app.dev), (unsigned)st.boot_count,
           (unsigned)st.epoch, (unsigned)st.pending);
    fflush(stdout);

    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    uint32_t next = b.clock.now_ms(b.clock.ctx);
    while (!stopping) {
        uint32_t now = b.clock.now_ms(b.clock.ctx), wait;

        corio_device_process(&app.dev);
        if ((int32_t)(now - next) >= 0) {
            /* A pack goes into the outbox whether or not the gateway is reachable. */
            err = sample(&app, board_temperature(&b));
            if (err != CORIO_OK)
                printf("sample: %s\n", corio_strerror(err));
            next = now + app.interval_ms;
        }
        corio_device_stats(&app.dev, &st);
        if (packs && st.acked >= packs && st.pending == 0)
            break;
        wait = corio_device_poll_ms(&app.dev);
        if (wait > next - now)
            wait = next - now;
        board_wait(&b, wait, corio_device_want_write(&app.dev));
    }

    /* A clean goodbye; what is unacknowledged stays in flash.bin for the next boot. */
    if (corio_device_stop(&app.dev) == CORIO_OK) {
        for (int i = 0; i < 100 && app.up; i++) {
            corio_device_process(&app.dev);
            board_wait(&b, 20, corio_device_want_write(&app.dev));
        }
    }
    corio_device_stats(&app.dev, &st);
    printf("stopped: %u packs, %u acknowledged, %u unacknowledged, %u commands\n",
           (unsigned)st.produced, (unsigned)st.acked, (unsigned)st.pending, (unsigned)st.commands);
    board_free(&b);
    return 0;
}
