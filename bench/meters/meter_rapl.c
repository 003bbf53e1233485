/*
 * The rapl meter: CPU energy from the Linux powercap interface
 * (/sys/class/powercap, intel-rapl:* zones; AMD Zen exposes its RAPL counters
 * through the same zones).
 *
 * Which zones are added. RAPL domains are separate counters: package (the whole
 * socket: cores, caches, uncore, and on client parts the iGPU) and dram (the
 * memory attached to it) do not overlap, while core (PP0) and uncore (PP1) are
 * parts of the package, and psys (platform) contains the packages. So the sum
 * is every package-* zone plus every dram zone, wherever the tree puts dram
 * (a subzone intel-rapl:0:0 on Intel servers, a top zone on some parts);
 * core, uncore and psys are listed in the provenance as not added, and
 * intel-rapl-mmio:* zones (the same package counter read over MMIO) are ignored.
 *
 * Counters. energy_uj counts microjoules and wraps to 0 after
 * max_energy_range_uj (about 262 kJ on Intel servers: a few minutes at full
 * load). Each read adds the difference since the previous read, taking a
 * counter that went down as one wrap: (max - previous) + now. Two wraps between
 * reads go unnoticed, so a window must stay shorter than max_energy_range_uj /
 * power (14 minutes at 300 W); the harness's windows are seconds long.
 * The hardware updates the counters about every millisecond (Intel SDM,
 * MSR_PKG_ENERGY_STATUS), hence an update period of 1 ms.
 *
 * Permissions. Since Linux 5.10 (CVE-2020-8694, "Platypus") energy_uj is
 * readable by root only; opening then fails with JB_EUNAVAILABLE and says how
 * to grant read access.
 *
 * The root is cfg->powercap_root, else $JB_POWERCAP_ROOT, else
 * /sys/class/powercap; tests point it at fixture trees. Both layouts are read:
 * the flat one of /sys/class/powercap (every zone a top-level entry) and the
 * nested one of /sys/devices/virtual/powercap/intel-rapl (subzones inside
 * their package's directory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jb_kernels.h"
#include "meters/meter_impl.h"

#define RAPL_UPDATE_PERIOD 1e-3
#define RAPL_MAX_ZONES 64

typedef struct rapl_zone {
    char id[64];          /* directory name, "intel-rapl:0:0" */
    char name[64];        /* contents of name, "package-0" */
    char *dir;            /* full path of the zone directory */
    uint64_t max_range;   /* max_energy_range_uj */
    uint64_t last;        /* raw energy_uj at the previous read */
    double total_j;       /* energy accumulated since open */
} rapl_zone;

typedef struct rapl_state {
    rapl_zone zones[RAPL_MAX_ZONES];
    int n;                /* zones found (added or not) */
    int used[RAPL_MAX_ZONES];
    int nused;
} rapl_state;

/* Reads a whole small file into buf (NUL-terminated, trailing newline cut).
 * 0, or the errno that stopped it. */
static int read_text(const char *dir, const char *file, char *buf, size_t len)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    ssize_t n;
    do
        n = read(fd, buf, len - 1);
    while (n < 0 && errno == EINTR);
    int err = n < 0 ? errno : 0;
    close(fd);
    if (err)
        return err;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return 0;
}

/* 0 with *v, EINVAL for text that is not a number, or the errno of the read. */
static int read_u64(const char *dir, const char *file, uint64_t *v)
{
    char buf[64], *end;
    int err = read_text(dir, file, buf, sizeof buf);
    if (err)
        return err;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (end == buf || *end || errno || buf[0] == '-')
        return EINVAL;
    *v = x;
    return 0;
}

static int is_zone_name(const char *d)
{
    return !strncmp(d, "intel-rapl:", 11);
}

static int find_zone(const rapl_state *s, const char *id)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->zones[i].id, id))
            return i;
    return -1;
}

/* Adds every intel-rapl:* directory under dir not seen yet; recurses one level
 * for the nested layout. */
static void scan(rapl_state *s, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!is_zone_name(e->d_name) || strlen(e->d_name) >= sizeof s->zones[0].id)
            continue;
        size_t plen = strlen(dir) + strlen(e->d_name) + 2;
        char *path = malloc(plen);
        if (!path)
            break;
        snprintf(path, plen, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) || find_zone(s, e->d_name) >= 0 || s->n >= RAPL_MAX_ZONES) {
            free(path);
            continue;
        }
        rapl_zone *z = &s->zones[s->n++];
        memset(z, 0, sizeof *z);
        memcpy(z->id, e->d_name, strlen(e->d_name) + 1);   /* length checked above */
        z->dir = path;
        if (depth == 0)
            scan(s, path, 1);
    }
    closedir(d);
}

static int zone_cmp(const void *a, const void *b)
{
    return strverscmp(((const rapl_zone *)a)->id, ((const rapl_zone *)b)->id);
}

static void rapl_destroy(void *impl)
{
    rapl_state *s = impl;
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        free(s->zones[i].dir);
    free(s);
}

static int rapl_counter(jb_meter *m, double *joules)
{
    rapl_state *s = m->impl;
    double sum = 0;
    for (int k = 0; k < s->nused; k++) {
        rapl_zone *z = &s->zones[s->used[k]];
        uint64_t now;
        if (read_u64(z->dir, "energy_uj", &now) != 0)
            return JB_EIO;
        uint64_t delta;
        if (now >= z->last)
            delta = now - z->last;
        else if (z->last <= z->max_range)
            delta = (z->max_range - z->last) + now;   /* wrapped once */
        else
            delta = now;   /* previous value beyond the stated range: count from 0 */
        z->last = now;
        z->total_j += 1e-6 * (double)delta;
        sum += z->total_j;
    }
    *joules = sum;
    return JB_OK;
}

static const jb_meter_ops rapl_ops = {
    .kind = JB_METER_RAPL,
    .counter = rapl_counter,
    .destroy = rapl_destroy,
};

/* Appends to a fixed buffer, "" separated by sep after the first item. */
static void append(char *buf, size_t len, const char *sep, const char *text)
{
    size_t used = strlen(buf);
    if (used + 1 < len)
        snprintf(buf + used, len - used, "%s%s", used ? sep : "", text);
}

int jb_meter_rapl_open(const jb_meter_config *cfg, jb_meter **out, char *why, size_t len)
{
    const char *root = jb_meter_setting(cfg->powercap_root, "JB_POWERCAP_ROOT", "/sys/class/powercap");
    DIR *d = opendir(root);
    if (!d)
        return jb_meter_fail(JB_EUNAVAILABLE, why, len,
                             "no powercap tree at %s (%s): this kernel or machine exposes no RAPL counters "
                             "(virtual machines usually do not)", root, strerror(errno));
    closedir(d);

    rapl_state *s = calloc(1, sizeof *s);
    if (!s)
        return jb_meter_fail(JB_ENOMEM, why, len, "out of memory");
    scan(s, root, 0);
    qsort(s->zones, (size_t)s->n, sizeof s->zones[0], zone_cmp);

    char added[256] = "", skipped[512] = "", item[160];
    int packages = 0;
    for (int i = 0; i < s->n; i++) {
        rapl_zone *z = &s->zones[i];
        if (read_text(z->dir, "name", z->name, sizeof z->name) != 0 || !z->name[0])
            continue;
        int is_pkg = !strncmp(z->name, "package", 7);
        int is_dram = !strcmp(z->name, "dram");
        if (!is_pkg && !is_dram) {
            snprintf(item, sizeof item, "%s (%s, %s)", z->name, z->id,
                     !strcmp(z->name, "psys") ? "contains the packages" :
                     !strcmp(z->name, "core") || !strcmp(z->name, "uncore") ? "inside the package" : "unknown domain");
            append(skipped, sizeof skipped, ", ", item);
            continue;
        }
        int err = read_u64(z->dir, "energy_uj", &z->last);
        if (err == EACCES || err == EPERM) {
            jb_meter_fail(JB_EUNAVAILABLE, why, len,
                          "cannot read %s/%s/energy_uj: %s (since Linux 5.10 only root may read RAPL "
                          "counters); run as root or: sudo chmod o+r %s/intel-rapl:*/energy_uj "
                          "(lasts until reboot)", root, z->id, strerror(err), root);
            rapl_destroy(s);
            return JB_EUNAVAILABLE;
        }
        uint64_t max = 0;
        int merr = err ? 0 : read_u64(z->dir, "max_energy_range_uj", &max);
        if (err || merr || max == 0) {
            if (is_pkg) {
                jb_meter_fail(JB_EUNAVAILABLE, why, len, "cannot read %s/%s/%s: %s", root, z->id,
                              err ? "energy_uj" : "max_energy_range_uj", strerror(err ? err : merr ? merr : EINVAL));
                rapl_destroy(s);
                return JB_EUNAVAILABLE;
            }
            /* Some platforms list a dram zone whose counter does not read; the
             * packages still measure, and the provenance says dram is missing. */
            snprintf(item, sizeof item, "%s (%s, unreadable: %s)", z->name, z->id,
                     strerror(err ? err : merr ? merr : EINVAL));
            append(skipped, sizeof skipped, ", ", item);
            continue;
        }
        z->max_range = max;
        s->used[s->nused++] = i;
        packages += is_pkg;
        append(added, sizeof added, " + ", z->name);
    }
    if (!packages) {
        rapl_destroy(s);
        return jb_meter_fail(JB_EUNAVAILABLE, why, len, "no readable RAPL package zone under %s%s%s", root,
                             skipped[0] ? "; found only: " : "", skipped);
    }
    jb_meter *m = jb_meter_new(&rapl_ops, s, 1, RAPL_UPDATE_PERIOD);
    if (!m)
        return jb_meter_fail(JB_ENOMEM, why, len, "out of memory");
    int n = snprintf(m->provenance, sizeof m->provenance, "rapl: %s (%d domain%s, %s)", added, s->nused,
                     s->nused == 1 ? "" : "s", root);
    if (skipped[0] && n > 0 && (size_t)n < sizeof m->provenance)
        snprintf(m->provenance + n, sizeof m->provenance - (size_t)n,
                 "; not added: %s", skipped);
    *out = m;
    return JB_OK;
}
