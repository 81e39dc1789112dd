/*
 * board.h - what the footprint example needs from its board and application beyond
 * the port: the network, the flash driver, the random generator, a provisioned key and
 * a sensor. These are the board's drivers, not the SDK's, so make footprint does not
 * measure them: it resolves each board_ symbol declared here to the startup code's
 * parking handler (scripts/footprint.sh reads this file for the list), which makes the
 * image complete for the linker but not a firmware for a real board.
 */
#ifndef FP_BOARD_H
#define FP_BOARD_H

#include <stddef.h>
#include <stdint.h>

#define BOARD_CORE_HZ 80000000u /* the core clock SysTick divides (Cortex-M4) */
#define BOARD_MTIME_ADDR 0x0200BFF8u /* the machine timer mtime (RV32, a CLINT) */
#define BOARD_MTIME_HZ 32768u        /* its rate */

/* The network: a connection to the gateway, with struct corio_transport's meanings. */
int board_net_open(void *ctx);
int board_net_send(void *ctx, const uint8_t *buf, size_t len);
int board_net_recv(void *ctx, uint8_t *buf, size_t len);
void board_net_close(void *ctx);

/* The outbox's flash region, with struct corio_flash's meanings. */
int board_flash_read(void *ctx, uint32_t addr, uint8_t *buf, size_t len);
int board_flash_program(void *ctx, uint32_t addr, const uint8_t *buf, size_t len);
int board_flash_erase(void *ctx, uint32_t sector);

/* One word from the part's true random generator (the port's trng read_word). */
int board_trng_read(void *ctx, uint32_t *word);

/* The identity key's private scalar, written at provisioning. Returns 0 or < 0. */
int board_identity_scalar(uint8_t priv[32]);

/* The OTA trust anchor learnt at provisioning: an uncompressed P-256 public key (the
 * form the PSA backend verifies with, so the device needs no point decompression).
 * Returns 0 or < 0. */
int board_ota_anchor(uint8_t pub[65]);

/* The TLS variant: the CA the gateway's certificate chains to (DER), and the
 * gateway's DNS name. */
int board_tls_ca(const uint8_t **der, size_t *len);
const char *board_gateway_name(void);

/* corio-eat-v1: the gateway's short id (the EAT's audience) and the SHA-256 of the
 * running firmware, which the bootloader measured. Return 0 or < 0. */
const char *board_gateway_id(void);
int board_firmware_digest(uint8_t digest[32]);

/* The temperature in milli-degrees Celsius. Returns 0 or < 0. */
int board_read_temperature(int32_t *milli_c);

/* Sleeps until an interrupt or at most timeout_ms. */
void board_sleep(uint32_t timeout_ms);

/* Restarts the device (a command asks for it). */
void board_reset(void);

#endif /* FP_BOARD_H */
