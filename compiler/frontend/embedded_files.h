#ifndef TPC_FRONTEND_EMBEDDED_FILES_H_
#define TPC_FRONTEND_EMBEDDED_FILES_H_

namespace tpc {

// The data files compiled into the library by plans/embed.cmake (which writes the same struct).
struct EmbeddedFile {
  const char* name;   ///< path under plans/: arch/llama.yaml, nemo/llama.yaml
  const char* index;  ///< the file's one-line index field: model_types (comma-separated) or name
  const char* text;
};

extern const EmbeddedFile kArchFiles[];  ///< plans/arch/*.yaml
extern const int kArchFilesCount;
extern const EmbeddedFile kPlanFiles[];  ///< plans/{nemo,rl,hf}/*.yaml
extern const int kPlanFilesCount;
extern const EmbeddedFile kReleaseFiles[];  ///< plans/*_releases.yaml
extern const int kReleaseFilesCount;

}  // namespace tpc

#endif  // TPC_FRONTEND_EMBEDDED_FILES_H_
