// quantize.c: run llama.cpp's own quantizer (llama_model_quantize in the
// libllama that @node-llama-cpp/linux-x64 ships) on a GGUF file, so that tests
// compare cusprun's quantized files with llama.cpp's. Built with gcc at test
// time by quantize.go.
//
// usage: quantize IN.gguf OUT.gguf FTYPE [pure]
// FTYPE is a llama_ftype number (2 = Q4_0, 15 = Q4_K_M, ...); "pure" gives
// every 2-D tensor that one type (no per-tensor mix).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

int main(int argc, char **argv) {
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: %s IN.gguf OUT.gguf FTYPE [pure]\n", argv[0]);
		return 2;
	}
	llama_backend_init();
	struct llama_model_quantize_params p = llama_model_quantize_default_params();
	p.ftype = (enum llama_ftype)atoi(argv[3]);
	p.nthread = 1;
	p.pure = argc == 5 && strcmp(argv[4], "pure") == 0;
	uint32_t rc = llama_model_quantize(argv[1], argv[2], &p);
	llama_backend_free();
	if (rc != 0) {
		fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
		return 1;
	}
	return 0;
}
