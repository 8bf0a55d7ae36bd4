// LD_PRELOAD shim for make_capture.sh: OpenVPN derives its data-channel keys
// (and, in p2p mode, the peer-id) with SSL_export_keying_material; this
// records each export's label and bytes to $RL_EKM_LOG, one line each, so
// that the capture comes with the keys the real peer used. Never linked into
// anything of the project.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct ssl_st SSL;
typedef int (*export_fn)(SSL*, unsigned char*, size_t, const char*, size_t, const unsigned char*,
                         size_t, int);

int SSL_export_keying_material(SSL* s, unsigned char* out, size_t olen, const char* label,
                               size_t llen, const unsigned char* context, size_t clen,
                               int use_context) {
  static export_fn real;
  if (!real) real = (export_fn)dlsym(RTLD_NEXT, "SSL_export_keying_material");
  const int r = real(s, out, olen, label, llen, context, clen, use_context);
  const char* path = getenv("RL_EKM_LOG");
  FILE* f = r == 1 && path ? fopen(path, "a") : NULL;
  if (f) {
    fprintf(f, "%.*s ", (int)llen, label);
    for (size_t i = 0; i < olen; ++i) fprintf(f, "%02x", out[i]);
    fprintf(f, "\n");
    fclose(f);
  }
  return r;
}
