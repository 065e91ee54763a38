# include/modules.cmake — which module owns each public header in include/.
#
# The top CMakeLists.txt gives every module's target a view of include/ that
# holds only its own headers (build/lc_include/<module>/, symlinks), exported
# PUBLIC: a target sees its own headers and those of the modules it links
# (directly or through them), and nothing else, so an #include across the
# module order fails to compile. A header in include/ that is listed under no
# module (or under two) stops the configure step with a message.
#
# Module order (a module links only modules before it): core, dist, kernels,
# quant, model, loader, gguf, checkpoint, tokenizer, data, deploy, train, eval;
# then the CLI. (deploy links train: see src/deploy/CMakeLists.txt.)
set(LC_MODULES core dist kernels quant model loader gguf checkpoint tokenizer data deploy train eval)

set(LC_HEADERS_core       lc_common.h lc_cpu.h lc_fsafe.h lc_path.h)
set(LC_HEADERS_dist       lc_dist.h)
set(LC_HEADERS_kernels    lc_kernels.h lc_dora_kernels.h lc_family.h)
set(LC_HEADERS_quant      lc_quant.h)
set(LC_HEADERS_model      lc_model.h lc_lora.h lc_infer.h lc_sample.h lc_transformer.h lc_dora.h lc_tokens.h)
set(LC_HEADERS_loader     lc_loader.h lc_safetensors.h)
set(LC_HEADERS_gguf       lc_gguf.h)
set(LC_HEADERS_checkpoint lc_ckpt.h)
set(LC_HEADERS_tokenizer  lc_tokenizer.h lc_chat.h)
set(LC_HEADERS_data       lc_data.h lc_config.h lc_prompt.h)
set(LC_HEADERS_deploy     lc_deploy.h)
set(LC_HEADERS_train      lc_train.h lc_reporter.h lc_adapter.h lc_base.h lc_eval.h lc_schedule.h)
set(LC_HEADERS_eval       lc_metrics.h lc_sweep.h lc_report.h)
