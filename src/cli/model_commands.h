// The subcommands of `tokengrid model`, one function each.
//
// cmd_model.cpp dispatches on the word after `model` through its table of these functions;
// argv[0] is "tokengrid model NAME" and each returns the process exit code.
#pragma once

namespace tokengrid::cli {

int run_model_eval(int argc, char** argv);      // cmd_model_eval.cpp
int run_model_info(int argc, char** argv);      // cmd_model_info.cpp
int run_model_quantize(int argc, char** argv);  // cmd_model_quantize.cpp
int run_model_synth(int argc, char** argv);     // cmd_model_synth.cpp
int run_model_vocab(int argc, char** argv);     // cmd_model_vocab.cpp

}  // namespace tokengrid::cli
