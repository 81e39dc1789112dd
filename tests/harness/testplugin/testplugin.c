/*
 * testplugin.c - a tiny Mosquitto plugin (API v5) for the harness's own tests. It
 * is built with Corio's flags, so in a sanitizer build it is instrumented like
 * corio_mosquitto.so and the broker can only load it with the sanitizer runtime
 * preloaded. It logs that it loaded (and whether it is instrumented), logs each
 * message it sees, and on two topics commits a deliberate bug so the tests can see
 * the sanitizer catch it inside the broker:
 *   harness/plugin/overflow  reads one byte past a heap block (instrumented only)
 *   harness/plugin/leak      leaks a heap block (reported when the broker exits)
 */
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define INSTRUMENTED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define INSTRUMENTED 1
#endif
#endif
#ifndef INSTRUMENTED
#define INSTRUMENTED 0
#endif

static mosquitto_plugin_id_t *g_id;
static unsigned long g_messages;
static char *g_greeting;

static void overflow(void)
{
#if INSTRUMENTED
    char *block = malloc(8);
    if (!block)
        return;
    memset(block, 0, 8);
    volatile size_t past = 8; /* hidden from the compiler's bounds warnings */
    volatile char c = block[past];
    (void)c;
    free(block);
#else
    mosquitto_log_printf(MOSQ_LOG_WARNING, "corio-testplugin: overflow skipped, not instrumented");
#endif
}

static void leak(void)
{
    char *block = malloc(64);
    if (!block)
        return;
    strcpy(block, "corio-testplugin leaked block");
    /* Logging the address keeps the allocation from being optimised away. */
    mosquitto_log_printf(MOSQ_LOG_INFO, "corio-testplugin: leaked %p", (void *)block);
}

static int on_message(int event, void *event_data, void *userdata)
{
    (void)event;
    (void)userdata;
    struct mosquitto_evt_message *ev = event_data;
    if (strcmp(ev->topic, "harness/plugin/overflow") == 0) {
        overflow();
    } else if (strcmp(ev->topic, "harness/plugin/leak") == 0) {
        leak();
    } else {
        g_messages++;
        mosquitto_log_printf(MOSQ_LOG_INFO, "corio-testplugin: message %lu on %s (%u bytes)",
                             g_messages, ev->topic, (unsigned)ev->payloadlen);
    }
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    for (int i = 0; i < supported_version_count; i++)
        if (supported_versions[i] == 5)
            return 5;
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    g_id = identifier;
    for (int i = 0; i < option_count; i++) {
        if (strcmp(options[i].key, "greeting") == 0) {
            mosquitto_free(g_greeting);
            g_greeting = mosquitto_strdup(options[i].value);
            if (!g_greeting)
                return MOSQ_ERR_NOMEM;
        }
    }
    mosquitto_log_printf(MOSQ_LOG_INFO, "corio-testplugin: loaded instrumented=%s greeting=%s",
                         INSTRUMENTED ? "yes" : "no", g_greeting ? g_greeting : "");
    return mosquitto_callback_register(g_id, MOSQ_EVT_MESSAGE, on_message, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    mosquitto_log_printf(MOSQ_LOG_INFO, "corio-testplugin: unloaded after %lu messages",
                         g_messages);
    mosquitto_free(g_greeting);
    g_greeting = NULL;
    return mosquitto_callback_unregister(g_id, MOSQ_EVT_MESSAGE, on_message, NULL);
}
