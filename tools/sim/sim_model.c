/*
 * sim_model.c - the simulated sensors: plausible, cheap and reproducible from a seed.
 *
 * Temperature sits at a level of its own per device (a room, a cabinet) and wanders
 * slowly around it (an Ornstein-Uhlenbeck drift with a ten-minute memory), plus
 * sensor noise. Relative humidity has its own level and drift and falls as the
 * temperature rises, as it does in a closed room. Vibration comes from a machine that
 * switches on and off at random (minutes on, minutes off): a few tenths of m/s2 RMS
 * while it runs, near nothing while it does not, with the odd knock.
 */
#include "sim.h"

void sim_rng_seed(struct sim_rng *r, uint64_t seed, uint64_t stream)
{
    r->s = seed ^ (stream * 0x9E3779B97F4A7C15ull) ^ 0xD1B54A32D192ED03ull;
    (void)sim_rng_next(r);
}

uint64_t sim_rng_next(struct sim_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double sim_rng_unit(struct sim_rng *r)
{
    return (double)(sim_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

double sim_rng_normal(struct sim_rng *r)
{
    /* Irwin-Hall: twelve uniforms, less six. Close enough for sensor noise, no libm. */
    double s = 0;
    for (int i = 0; i < 12; i++)
        s += sim_rng_unit(r);
    return s - 6.0;
}

static double sqrt_pos(double x)
{
    if (x <= 0)
        return 0;
    double g = x > 1 ? x : 1;
    for (int i = 0; i < 30; i++)
        g = 0.5 * (g + x / g);
    return g;
}

/* v rounded to 1/scale; dividing (not multiplying by 1/scale) gives the double nearest
 * the decimal, which JSON then writes short. */
static double round_to(double v, double scale)
{
    double q = v * scale;
    long long k = (long long)(q < 0 ? q - 0.5 : q + 0.5);
    return (double)k / scale;
}

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* One Ornstein-Uhlenbeck step: pulled back to 0 with time constant tau, driven by
 * noise of long-run standard deviation sigma. */
static double ou(struct sim_rng *r, double x, double dt, double tau, double sigma)
{
    double k = dt / tau;
    if (k > 1)
        k = 1;
    return x - x * k + sigma * sqrt_pos(2.0 * k) * sim_rng_normal(r);
}

void sim_model_init(struct sim_model *m, uint64_t seed, uint64_t device)
{
    sim_rng_seed(&m->rng, seed, device);
    m->temp_base = 21.0 + 2.0 * sim_rng_normal(&m->rng);
    m->temp_drift = 0.5 * sim_rng_normal(&m->rng);
    m->hum_base = 48.0 + 6.0 * sim_rng_normal(&m->rng);
    m->hum_drift = 0;
    m->machine_on = sim_rng_unit(&m->rng) < 0.3;
    m->vib_level = 0.4 + 0.4 * sim_rng_unit(&m->rng);
}

void sim_model_step(struct sim_model *m, double dt, struct sim_sample *out)
{
    struct sim_rng *r = &m->rng;
    m->temp_drift = ou(r, m->temp_drift, dt, 600.0, 0.8);
    m->hum_drift = ou(r, m->hum_drift, dt, 900.0, 2.0);
    /* The machine: on for two minutes on average, off for five. */
    double mean = m->machine_on ? 120.0 : 300.0;
    if (sim_rng_unit(r) < dt / mean)
        m->machine_on = !m->machine_on;

    double temp = m->temp_base + m->temp_drift + 0.05 * sim_rng_normal(r);
    double hum = m->hum_base + m->hum_drift - 2.5 * m->temp_drift + 0.3 * sim_rng_normal(r);
    double vib;
    if (m->machine_on)
        vib = m->vib_level * (1.0 + 0.15 * sim_rng_normal(r));
    else
        vib = 0.015 + 0.004 * sim_rng_normal(r);
    if (sim_rng_unit(r) < 0.002)
        vib += 2.0 * sim_rng_unit(r); /* a knock */
    out->temp = round_to(temp, 100.0);
    out->hum = round_to(clamp(hum, 5.0, 95.0), 10.0);
    out->vib = round_to(clamp(vib, 0.0, 50.0), 1000.0);
    out->running = m->machine_on;
}
