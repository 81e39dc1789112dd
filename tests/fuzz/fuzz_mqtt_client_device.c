/*
 * fuzz_mqtt_client_device.c - fuzz_mqtt_client.c's harness (the same input format and
 * the same token accounting) over the MQTT client built as the footprint example's
 * device builds it: the MQTT device-size options of examples/footprint/corio_config.h
 * at 0. The client's source is compiled into this target with them, in place of the
 * library's copy, so the code paths those options leave are fuzzed too (and replayed
 * in every build, fuzz.mqtt_client_device).
 */
#define CORIO_MQTT_WITH_UNSUBSCRIBE   0
#define CORIO_MQTT_WITH_REAUTH        0
#define CORIO_MQTT_WITH_WILL          0
#define CORIO_MQTT_WITH_RESEND        0
#define CORIO_MQTT_CHECK_OWN          0
#define CORIO_MQTT_WITH_LOGIN         0
#define CORIO_MQTT_WITH_CONNECT_PROPS 0
#include "../../sdk/src/mqtt_client.c"

#include "fuzz_mqtt_client.c"
