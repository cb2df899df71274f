/* mcu_insn_count: a QEMU TCG plugin that counts executed guest instructions exactly, per function and per
 * firmware-marked op, for the MCUFormer Cortex-M7 firmware (examples/stm32f746).
 *
 *   qemu-system-arm ... -plugin libmcu_insn_count.so,symbols=SYMS.txt,out=COUNTS.json
 *
 * SYMS.txt: one function per line, "<hex start> <hex size> <name>" (from `arm-none-eabi-nm -S -C` of the ELF;
 * mcuformer/mcu.py writes it). One of them must be `mcu_prof_sled`: the firmware's marker sled (app/profile.h):
 * entry 0 = inference begins, 1 = inference ends, 2 + k = next op has kind k, 258 + i + 1 = op i begins (i = -1: the
 * last op ended). Each entry is a 2-byte `bx lr`; executing it is the event.
 *
 * How counting works: at translation, every instruction gets an inline "add 1" (no helper call) on the counter of
 * the function containing it (or an "unknown" counter). Totals are sums of those counters, so they are exact:
 * every executed instruction is counted once. Sled instructions also get a callback that snapshots the total and
 * closes/opens ops and inferences, so an op's count is the number of instructions executed between its marker and
 * the next one (it includes the marker call itself, about 10 instructions). Nothing depends on time or host state:
 * counts are identical run to run.
 *
 * COUNTS.json, written at exit: {"total_instructions", "unknown_instructions", "inferences": [per inference],
 * "ops": [{"index","kind","calls","instructions"}], "functions": [{"name","start","size","instructions",
 * "in_inference"}]} (ops and instructions summed over all inferences; functions with a nonzero count only). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum {
  kSledBegin = 0,
  kSledEnd = 1,
  kSledKindBase = 2,
  kSledKinds = 256,
  kSledOpBase = kSledKindBase + kSledKinds,
  kSledMaxOps = 1024,
  kSledEntries = kSledOpBase + kSledMaxOps,
};

typedef struct {
  uint64_t start, end; /* [start, end) */
  char *name;
  uint64_t count;        /* all executed instructions (inline add target) */
  uint64_t in_inference; /* those executed between inference begin/end markers */
  uint64_t snap;
} Func;

typedef struct {
  int32_t kind;
  uint64_t calls;
  uint64_t instructions;
} Op;

static Func *g_funcs;
static size_t g_nfuncs;
static uint64_t g_unknown;
static uint64_t g_sled_start;
static int g_have_sled;
static char *g_out_path;

static Op g_ops[kSledMaxOps];
static int32_t g_max_op = -1;
static int32_t g_cur_op = -1;
static uint64_t g_op_start;
static int32_t g_pending_kind;
static int g_in_inference;
static uint64_t g_inference_start;
static uint64_t *g_inferences;
static size_t g_ninferences, g_cap_inferences;

static uint64_t total_now(void) {
  uint64_t t = g_unknown;
  for (size_t i = 0; i < g_nfuncs; ++i) t += g_funcs[i].count;
  return t;
}

static int cmp_func(const void *a, const void *b) {
  const Func *x = a, *y = b;
  return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

static Func *lookup(uint64_t addr) {
  size_t lo = 0, hi = g_nfuncs;
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (g_funcs[mid].end <= addr) {
      lo = mid + 1;
    } else if (g_funcs[mid].start > addr) {
      hi = mid;
    } else {
      return &g_funcs[mid];
    }
  }
  return NULL;
}

static int load_symbols(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char line[4096];
  size_t cap = 0;
  while (fgets(line, sizeof line, f)) {
    char *p = line, *q;
    const uint64_t start = strtoull(p, &q, 16) & ~(uint64_t)1; /* Thumb bit */
    if (q == p) continue;
    p = q;
    const uint64_t size = strtoull(p, &q, 16);
    if (q == p || size == 0) continue;
    p = q;
    while (*p == ' ' || *p == '\t') ++p;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) p[--n] = 0;
    if (g_nfuncs == cap) {
      cap = cap ? cap * 2 : 256;
      g_funcs = realloc(g_funcs, cap * sizeof *g_funcs);
    }
    Func *fn = &g_funcs[g_nfuncs++];
    memset(fn, 0, sizeof *fn);
    fn->start = start;
    fn->end = start + size;
    fn->name = strdup(p);
  }
  fclose(f);
  qsort(g_funcs, g_nfuncs, sizeof *g_funcs, cmp_func);
  /* Clip overlaps (aliases) so every address belongs to at most one function. */
  size_t w = 0;
  for (size_t i = 0; i < g_nfuncs; ++i) {
    if (w > 0 && g_funcs[i].start < g_funcs[w - 1].end) {
      if (g_funcs[i].end <= g_funcs[w - 1].end) {
        free(g_funcs[i].name);
        continue;
      }
      g_funcs[i].start = g_funcs[w - 1].end;
    }
    g_funcs[w++] = g_funcs[i];
  }
  g_nfuncs = w;
  for (size_t i = 0; i < g_nfuncs; ++i) {
    if (strcmp(g_funcs[i].name, "mcu_prof_sled") == 0) {
      g_sled_start = g_funcs[i].start;
      g_have_sled = 1;
    }
  }
  return 0;
}

static void close_op(uint64_t now) {
  if (g_cur_op >= 0) g_ops[g_cur_op].instructions += now - g_op_start;
  g_cur_op = -1;
}

static void on_sled(unsigned int vcpu_index, void *userdata) {
  (void)vcpu_index;
  const int32_t entry = (int32_t)(intptr_t)userdata;
  const uint64_t now = total_now();
  if (entry == kSledBegin) {
    g_in_inference = 1;
    g_inference_start = now;
    g_cur_op = -1;
    for (size_t i = 0; i < g_nfuncs; ++i) g_funcs[i].snap = g_funcs[i].count;
  } else if (entry == kSledEnd) {
    close_op(now);
    if (g_in_inference) {
      if (g_ninferences == g_cap_inferences) {
        g_cap_inferences = g_cap_inferences ? g_cap_inferences * 2 : 1024;
        g_inferences = realloc(g_inferences, g_cap_inferences * sizeof *g_inferences);
      }
      g_inferences[g_ninferences++] = now - g_inference_start;
      for (size_t i = 0; i < g_nfuncs; ++i) g_funcs[i].in_inference += g_funcs[i].count - g_funcs[i].snap;
    }
    g_in_inference = 0;
  } else if (entry < kSledOpBase) {
    g_pending_kind = entry - kSledKindBase;
  } else {
    const int32_t index = entry - kSledOpBase - 1;
    close_op(now);
    if (index >= 0 && index < kSledMaxOps) {
      g_cur_op = index;
      g_ops[index].kind = g_pending_kind;
      g_ops[index].calls += 1;
      g_op_start = now;
      if (index > g_max_op) g_max_op = index;
    }
  }
}

static void on_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
    const uint64_t vaddr = qemu_plugin_insn_vaddr(insn);
    Func *fn = lookup(vaddr);
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, fn ? &fn->count : &g_unknown, 1);
    if (g_have_sled && vaddr >= g_sled_start && vaddr < g_sled_start + 2 * kSledEntries) {
      const intptr_t entry = (intptr_t)((vaddr - g_sled_start) / 2);
      qemu_plugin_register_vcpu_insn_exec_cb(insn, on_sled, QEMU_PLUGIN_CB_NO_REGS, (void *)entry);
    }
  }
}

static void json_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; ++s) {
    if (*s == '"' || *s == '\\') {
      fputc('\\', f);
      fputc(*s, f);
    } else if ((unsigned char)*s < 0x20) {
      fputc(' ', f);
    } else {
      fputc(*s, f);
    }
  }
  fputc('"', f);
}

static void write_report(void) {
  const uint64_t total = total_now();
  char msg[160];
  snprintf(msg, sizeof msg, "mcu_insn_count: %" PRIu64 " instructions, %zu inferences\n", total, g_ninferences);
  qemu_plugin_outs(msg);
  if (!g_out_path) return;
  FILE *f = fopen(g_out_path, "w");
  if (!f) {
    qemu_plugin_outs("mcu_insn_count: cannot write the output file\n");
    return;
  }
  fprintf(f, "{\"total_instructions\":%" PRIu64 ",\"unknown_instructions\":%" PRIu64 ",\"sled_found\":%s,", total,
          g_unknown, g_have_sled ? "true" : "false");
  fprintf(f, "\"inferences\":[");
  for (size_t i = 0; i < g_ninferences; ++i) fprintf(f, "%s%" PRIu64, i ? "," : "", g_inferences[i]);
  fprintf(f, "],\n\"ops\":[");
  int first = 1;
  for (int32_t i = 0; i <= g_max_op; ++i) {
    if (g_ops[i].calls == 0) continue;
    fprintf(f, "%s{\"index\":%d,\"kind\":%d,\"calls\":%" PRIu64 ",\"instructions\":%" PRIu64 "}", first ? "" : ",\n",
            i, g_ops[i].kind, g_ops[i].calls, g_ops[i].instructions);
    first = 0;
  }
  fprintf(f, "],\n\"functions\":[");
  first = 1;
  for (size_t i = 0; i < g_nfuncs; ++i) {
    const Func *fn = &g_funcs[i];
    if (fn->count == 0) continue;
    fprintf(f, "%s{\"name\":", first ? "" : ",\n");
    json_string(f, fn->name);
    fprintf(f, ",\"start\":%" PRIu64 ",\"size\":%" PRIu64 ",\"instructions\":%" PRIu64 ",\"in_inference\":%" PRIu64 "}",
            fn->start, fn->end - fn->start, fn->count, fn->in_inference);
    first = 0;
  }
  fprintf(f, "]}\n");
  fclose(f);
}

static void on_exit_cb(qemu_plugin_id_t id, void *userdata) {
  (void)id;
  (void)userdata;
  write_report();
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    if (strncmp(argv[i], "symbols=", 8) == 0) {
      if (load_symbols(argv[i] + 8) != 0) {
        fprintf(stderr, "mcu_insn_count: cannot read %s\n", argv[i] + 8);
        return -1;
      }
    } else if (strncmp(argv[i], "out=", 4) == 0) {
      g_out_path = strdup(argv[i] + 4);
    } else {
      fprintf(stderr, "mcu_insn_count: unknown argument '%s' (expected symbols=FILE, out=FILE)\n", argv[i]);
      return -1;
    }
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, on_tb_trans);
  qemu_plugin_register_atexit_cb(id, on_exit_cb, NULL);
  return 0;
}
