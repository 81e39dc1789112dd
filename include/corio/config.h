/*
 * config.h - build-time configuration of libcorio.
 *
 * Every array in the SDK is sized by a macro with a default in the header of the
 * module that uses it (for example CORIO_MQTT_MAX_INFLIGHT in mqtt.h), guarded by
 * #ifndef. An application overrides defaults by defining them on the command line or
 * in its own header named by CORIO_CONFIG_FILE, which this file includes first:
 *
 *     cc -DCORIO_CONFIG_FILE='"my_corio_config.h"' ...
 *
 * Every public SDK header includes this file before its defaults.
 */
#ifndef CORIO_CONFIG_H
#define CORIO_CONFIG_H

#ifdef CORIO_CONFIG_FILE
#include CORIO_CONFIG_FILE
#endif

#endif /* CORIO_CONFIG_H */
