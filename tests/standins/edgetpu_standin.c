/* A stand-in for libedgetpu.so.1: a valid TFLite delegate plugin that claims no ops.
 *
 * It implements the external-delegate plugin ABI that LiteRT's load_delegate()
 * calls (tflite_plugin_create_delegate / tflite_plugin_destroy_delegate), and
 * records the options it received and whether the interpreter prepared it in
 * the file named by $FER_EDGE_STANDIN_LOG, so tests can prove the delegate was
 * really loaded and used. The graph then runs on the CPU as usual.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct TfLiteDelegate {
  void* data_;
  int (*Prepare)(void* context, struct TfLiteDelegate* delegate);
  int (*CopyFromBufferHandle)(void*, struct TfLiteDelegate*, int, void*);
  int (*CopyToBufferHandle)(void*, struct TfLiteDelegate*, int, void*);
  void (*FreeBufferHandle)(void*, struct TfLiteDelegate*, int*);
  int64_t flags;
  void* opaque_delegate_builder;
} TfLiteDelegate;

static void log_line(const char* a, const char* b) {
  const char* path = getenv("FER_EDGE_STANDIN_LOG");
  if (!path) return;
  FILE* f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s%s\n", a, b ? b : "");
  fclose(f);
}

static int prepare(void* context, TfLiteDelegate* delegate) {
  (void)context; (void)delegate;
  log_line("prepare", NULL);
  return 0; /* kTfLiteOk: replaces no nodes */
}

TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t n, void (*report_error)(const char*)) {
  (void)report_error;
  for (size_t i = 0; i < n; ++i) { log_line(keys[i], "="); log_line(values[i], NULL); }
  log_line("create", NULL);
  TfLiteDelegate* d = (TfLiteDelegate*)calloc(1, sizeof(TfLiteDelegate));
  d->Prepare = prepare;
  return d;
}

void tflite_plugin_destroy_delegate(TfLiteDelegate* d) {
  log_line("destroy", NULL);
  free(d);
}
