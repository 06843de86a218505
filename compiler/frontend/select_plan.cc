#include "frontend/select_plan.h"

#include <algorithm>
#include <filesystem>

#include "frontend/bundled_plans.h"
#include "frontend/plan_loader.h"
#include "frontend/releases.h"
#include "support/strings.h"

namespace tpc {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string ClassOf(const ModelGraph& m) {
  return m.architecture.empty() ? "the " + m.model_type + " model class" : "'" + m.architecture + "'";
}

// The model's Hugging Face _tp_plan as NeMo AutoModel's get_hf_tp_shard_plan turns it into torch
// styles (automodel.md §1.3), or nullopt with the reason the seed raises in `why`.
std::optional<Plan> TranslateHfPlan(const ModelGraph& model, const RuntimeRelease& transformers, Diagnostics& diags,
                                    std::string* why, std::string* name) {
  *name = HfPlanName(model.model_type, transformers);
  std::optional<Plan> hf = LoadBundledPlan(*name, diags);
  if (!hf || (hf->entries.empty() && hf->class_entries.empty())) {
    *why = "is missing (transformers " + transformers.version + " defines no _tp_plan for model_type '" +
           model.model_type + "')";
    return std::nullopt;
  }
  Plan out;
  out.file = hf->file;
  out.meta = hf->meta;
  out.meta.dialect = Dialect::kTorch;
  out.meta.summary = "the model's Hugging Face _tp_plan as NeMo AutoModel translates it into torch styles";
  out.meta.sp_mode = SpMode::kIgnored;  // the seed applies the HF plan as it is, SP or not
  // get_hf_tp_shard_plan's merge (automodel.md §1.3): the class's _tp_plan first, then the
  // instance's, a later key overriding an earlier one in its place. The class's plan is in the
  // applied plan from transformers 5.24 on; 5.7 leaves it out, and its file keeps it aside.
  std::vector<PlanEntry> merged;
  for (PlanEntry e : hf->class_entries) merged.push_back(std::move(e));
  for (PlanEntry e : hf->entries) {
    if (e.base_relative) e.key = model.base_prefix + "." + e.key;
    e.base_relative = false;
    auto same = std::find_if(merged.begin(), merged.end(), [&](const PlanEntry& m) { return m.key == e.key; });
    if (same != merged.end()) *same = std::move(e);
    else merged.push_back(std::move(e));
  }
  std::string embed = model.base_prefix + ".embed_tokens";
  bool has_embed = false;
  for (PlanEntry e : merged) {
    const StyleInfo* s = FindStyle(Dialect::kTorch, e.style);
    if (s && s->skipped) continue;  // skipped before translation, or translated to None and dropped
    if ((e.key == "lm_head" || e.key == "language_model.lm_head") && s && s->hf_lm_head_sharded) {
      e.is_object = true;  // the seed's special case: vocab-sharded logits, no all-gather
      e.style = s->shorthand_for;
      e.output_layouts = std::vector<LayoutSpec>{{LayoutSpec::kShard, -1}};
      e.use_local_output = false;
    } else if (!s || !s->from_hf) {
      *why = "uses style '" + e.style + "' on '" + e.key + "', which NeMo AutoModel's translator rejects (Unknown parallel style)";
      return std::nullopt;
    }
    has_embed |= e.key == embed;
    out.entries.push_back(std::move(e));
  }
  if (!has_embed) {
    PlanEntry e;  // the seed adds a vocab-parallel embedding with a replicated output
    e.key = embed;
    e.style = "rowwise_rep";
    e.key_loc = e.style_loc = {hf->file, 0, 0, 0};
    out.entries.push_back(std::move(e));
  }
  return out;
}

// The optimized plan NeMo AutoModel registers for the model's class (by name; by model_type when
// the config names no class), or "".
std::string OptimizedPlanFor(const ModelGraph& model) {
  for (const std::string& name : BundledPlanNames()) {
    if (!StartsWith(name, "nemo/") || name == "nemo/default") continue;
    SourceManager scratch_sources;  // bundled plans parse cleanly (tested); nothing to report here
    Diagnostics scratch(scratch_sources);
    std::optional<Plan> p = LoadBundledPlan(name, scratch);
    if (!p) continue;
    bool hit = model.architecture.empty() ? !p->meta.architectures.empty() && Contains(p->meta.model_types, model.model_type)
                                          : Contains(p->meta.architectures, model.architecture);
    if (hit) return name;
  }
  return "";
}

class Selector {
 public:
  Selector(const ModelGraph& m, const PlanRequest& r, Diagnostics& d) : model_(m), req_(r), diags_(d) {}

  std::optional<Plan> Run() {
    std::optional<Plan> plan = Choose();
    if (!plan) return std::nullopt;
    // The seeds parallelize nothing at tp 1, so SP (like the plan) only matters above it.
    if (req_.sequence_parallel && req_.tp > 1) ApplySequenceParallel(*plan);
    return plan;
  }

 private:
  const ModelGraph& model_;
  const PlanRequest& req_;
  Diagnostics& diags_;

  // Loads bundled plan `name` and says why it was chosen: `id` with `name` then `args`.
  std::optional<Plan> Bundled(const std::string& name, DiagId id, std::vector<std::string> args) {
    std::optional<Plan> p = LoadBundledPlan(name, diags_);
    if (!p) return p;
    args.insert(args.begin(), name);
    diags_.Report(id, {}, std::move(args));
    return p;
  }

  std::optional<Plan> Choose() {
    const std::string& arg = req_.plan;
    if (arg == "llama_nemotron_super_tp_plan") {
      if (model_.architecture == "DeciLMForCausalLM" && model_.model_type == "nemotron-nas")
        return Bundled("nemo/decilm_nemotron", DiagId::kPlanNamed,
                       {arg, "a DeciLMForCausalLM nemotron-nas checkpoint"});
      return Bundled("nemo/llama", DiagId::kPlanNamed, {arg, "any model but a DeciLM nemotron-nas checkpoint"});
    }
    if (arg.empty() || arg == "auto") return Auto();
    // `hf/<type>` names the model's own plan, which is the release's: plans/hf57 under 5.7.
    if (StartsWith(arg, "hf/") && IsBundledPlan(arg)) {
      std::string release_plan = HfPlanName(arg.substr(3), req_.transformers);
      if (release_plan != arg && IsBundledPlan(release_plan))
        return Bundled(release_plan, DiagId::kPlanNamed, {arg, "transformers " + req_.transformers.version});
    }
    return LoadPlanArg(arg, diags_);  // what the user named needs no note
  }

  std::optional<Plan> Auto() {
    std::string hf_name, why;
    std::string optimized = OptimizedPlanFor(model_);
    if (!optimized.empty()) {
      std::optional<Plan> p = LoadBundledPlan(optimized, diags_);
      if (!p) return std::nullopt;
      const std::string& need = p->meta.requires_model_type;
      if (need.empty() || need == model_.model_type) {
        diags_.Report(DiagId::kPlanOptimized, {}, {optimized, ClassOf(model_)});
        return p;
      }
      std::optional<Plan> hf = TranslateHfPlan(model_, req_.transformers, diags_, &why, &hf_name);
      if (!hf) {
        diags_.Report(DiagId::kNoPlanHfFallback, {}, {optimized, p->meta.refusal, model_.model_type, hf_name, why});
        return std::nullopt;
      }
      diags_.Report(DiagId::kPlanHfFallback, {}, {hf_name, optimized, p->meta.refusal, model_.model_type});
      return hf;
    }
    std::optional<Plan> hf = TranslateHfPlan(model_, req_.transformers, diags_, &why, &hf_name);
    if (hf) {
      diags_.Report(DiagId::kPlanHfTranslated, {}, {hf_name, ClassOf(model_)});
      return hf;
    }
    if (req_.tp > 1 && model_.custom_code) {
      diags_.Report(DiagId::kNoPlanCustomCode, {}, {ClassOf(model_), hf_name, why, std::to_string(req_.tp)});
      return std::nullopt;
    }
    return Bundled("nemo/default", DiagId::kPlanDefault, {ClassOf(model_), hf_name, why});
  }
};

}  // namespace

std::string HfPlanName(const std::string& model_type, const RuntimeRelease& release) {
  std::string name = release.plans + "/" + model_type;
  // An older release of the newest major keeps a file only where its plan differs (plans/README.md).
  if (!IsBundledPlan(name) && release.major == NewestTransformersRelease().major) return "hf/" + model_type;
  return name;
}

std::optional<Plan> LoadPlanArg(const std::string& arg, Diagnostics& diags) {
  // A file wins over a bundled plan of the same name; a path that exists but is no regular file
  // goes to LoadPlan, which says why it cannot be read.
  std::error_code ec;
  if (std::filesystem::is_regular_file(arg, ec)) return LoadPlan(arg, diags);
  if (IsBundledPlan(arg)) return LoadBundledPlan(arg, diags);
  if (std::filesystem::exists(arg, ec)) return LoadPlan(arg, diags);
  std::string hint = DidYouMean(arg, BundledPlanNames());
  diags.Report(DiagId::kUnknownPlan, {}, {arg, hint.empty() ? "" : " (did you mean '" + hint + "'?)"});
  return std::nullopt;
}

std::optional<Plan> SelectPlan(const ModelGraph& model, const PlanRequest& req, Diagnostics& diags) {
  return Selector(model, req, diags).Run();
}

RuntimeRelease EffectiveRelease(const PlanRequest& req, Dialect dialect) {
  if (req.transformers_given || dialect != Dialect::kHfV4 || req.transformers.major < 5) return req.transformers;
  std::string why;
  std::optional<RuntimeRelease> newest4 = FindTransformersRelease("4", &why);
  return newest4 ? *newest4 : req.transformers;
}

}  // namespace tpc
