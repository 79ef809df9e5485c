using System.CommandLine;
using System.Text.Json.Nodes;
using CtMparticle.Governance;

namespace CtMparticle.Tool;

/// <summary><c>ctmp plan validate|diff|lint</c>: the tracking plan as code.</summary>
internal static class PlanCommand
{
    public static Command Create()
    {
        var plan = new Command("plan", "Validate batches against a data plan, diff plan versions, lint a plan.");

        var planPath = new Argument<FileInfo>("plan") { Description = "A data plan version file (mParticle's format)." };
        var files = new Argument<string[]>("files") { Description = "Batch files (one batch, an array of batches, or a single event), folders of them, or NDJSON.", Arity = ArgumentArity.OneOrMore };
        var json = new Option<bool>("--json") { Description = "One result per input file, shaped like mParticle's validation results." };
        var validate = new Command("validate", "Validate Events API batches (or events) against a plan.") { planPath, files, json };
        validate.SetAction(parse => Validate(parse.GetRequiredValue(planPath), parse.GetRequiredValue(files), parse.GetValue(json)));
        plan.Subcommands.Add(validate);

        var old = new Argument<FileInfo>("old") { Description = "The current plan version." };
        var updated = new Argument<FileInfo>("new") { Description = "The proposed plan version." };
        var diff = new Command("diff", "Classify every change between two plan versions as breaking or compatible, and suggest the version bump.") { old, updated, json };
        diff.SetAction(parse => Diff(parse.GetRequiredValue(old), parse.GetRequiredValue(updated), parse.GetValue(json)));
        plan.Subcommands.Add(diff);

        var lintPath = new Argument<FileInfo>("plan") { Description = "A data plan version file." };
        var lint = new Command("lint", "Report what mParticle's Data Planning API rejects and what misleads its validator.") { lintPath, json };
        lint.SetAction(parse => Lint(parse.GetRequiredValue(lintPath), parse.GetValue(json)));
        plan.Subcommands.Add(lint);
        return plan;
    }

    private static DataPlan? Load(FileInfo file, out int exit)
    {
        var (plan, problems) = DataPlan.Load(file.FullName);
        exit = plan is null ? Commands.Fail(ExitCodes.Usage, problems) : ExitCodes.Ok;
        return plan;
    }

    private static int Validate(FileInfo planFile, string[] paths, bool asJson)
    {
        if (Load(planFile, out var exit) is not { } plan)
        {
            return exit;
        }

        var problems = InputFiles.Problems(paths).ToArray();
        if (problems.Length > 0)
        {
            return Commands.Fail(ExitCodes.Usage, problems);
        }

        var validator = new DataPlanValidator(plan);
        var output = new JsonArray();
        int inputs = 0, invalid = 0;
        foreach (var input in InputFiles.Read(paths))
        {
            inputs++;
            var results = new JsonArray();
            string? error = null;
            try
            {
                var node = JsonNode.Parse(input.Body);
                var items = node is JsonArray array ? array.OfType<JsonObject>().ToList() : node is JsonObject one ? [one] : [];
                foreach (var item in items)
                {
                    // A batch is checked whole (events and user attributes); a lone event is checked as an event.
                    var found = item.ContainsKey("event_type")
                        ? validator.ValidateEvent(item) is { } single ? [single] : []
                        : validator.ValidateBatch(item).ToList();
                    results.Add((JsonNode)new JsonObject { ["results"] = new JsonArray(found.Select(r => (JsonNode)r.ToJson()["data"]!.DeepClone()).ToArray()) });
                    if (found.Count > 0)
                    {
                        invalid++;
                    }
                }
            }
            catch (System.Text.Json.JsonException ex)
            {
                error = $"not JSON: {ex.Message}";
                invalid++;
            }

            output.Add((JsonNode)new JsonObject { ["file"] = input.Source, ["error"] = error, ["batches"] = results });
            if (!asJson)
            {
                PrintReadable(input.Source, error, results);
            }
        }

        if (asJson)
        {
            Console.WriteLine(output.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            Console.WriteLine($"{inputs:N0} input(s) against {plan.PlanId} v{plan.Version}: {inputs - invalid:N0} valid, {invalid:N0} with violations.");
        }

        return invalid == 0 ? ExitCodes.Ok : ExitCodes.Failed;
    }

    private static void PrintReadable(string source, string? error, JsonArray batches)
    {
        if (error is not null)
        {
            Console.WriteLine($"{source}: {error}");
            return;
        }

        var findings = batches.SelectMany(b => b!["results"]!.AsArray()).ToArray();
        if (findings.Length == 0)
        {
            Console.WriteLine($"{source}: valid");
            return;
        }

        Console.WriteLine($"{source}:");
        foreach (var finding in findings)
        {
            var match = finding!["match"];
            var what = match is null ? "(unmatched event)" : $"{(string?)match["type"]} {match["criteria"]?.ToJsonString()}";
            foreach (var e in finding["validation_errors"]!.AsArray())
            {
                Console.WriteLine($"  {what}: {(string?)e!["validation_error_type"]} {(string?)e["key"]} at {(string?)e["error_pointer"]}" +
                    $"{(e["expected"] is { } x ? $", expected {x.ToJsonString()}" : "")}{(e["actual"] is { } a ? $", actual {a.ToJsonString()}" : "")}");
            }
        }
    }

    private static int Diff(FileInfo oldFile, FileInfo newFile, bool asJson)
    {
        if (Load(oldFile, out var exit) is not { } old || Load(newFile, out exit) is not { } updated)
        {
            return exit;
        }

        var changes = PlanDiff.Diff(old, updated);
        var suggestion = PlanDiff.Suggest(changes, old.Version);
        if (asJson)
        {
            var output = new JsonObject
            {
                ["breaking"] = changes.Any(c => c.Breaking),
                ["suggestion"] = suggestion,
                ["changes"] = new JsonArray(changes.Select(c => (JsonNode)new JsonObject
                {
                    ["kind"] = c.Breaking ? "breaking" : "compatible",
                    ["match_key"] = c.MatchKey,
                    ["pointer"] = c.Pointer,
                    ["description"] = c.Description,
                }).ToArray()),
            };
            Console.WriteLine(output.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var change in changes)
            {
                Console.WriteLine($"{(change.Breaking ? "BREAKING  " : "compatible")} {change.MatchKey} {change.Pointer}: {change.Description}");
            }

            Console.WriteLine($"{changes.Count(c => c.Breaking):N0} breaking, {changes.Count(c => !c.Breaking):N0} compatible change(s). Suggested: {suggestion}.");
        }

        return changes.Any(c => c.Breaking) ? ExitCodes.Failed : ExitCodes.Ok;
    }

    private static int Lint(FileInfo file, bool asJson)
    {
        if (Load(file, out var exit) is not { } plan)
        {
            return exit;
        }

        var findings = PlanLint.Lint(plan);
        if (asJson)
        {
            Console.WriteLine(new JsonArray(findings.Select(f => (JsonNode)new JsonObject
            {
                ["level"] = f.IsError ? "error" : "warning",
                ["where"] = f.Where,
                ["message"] = f.Message,
            }).ToArray()).ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        }
        else
        {
            foreach (var finding in findings)
            {
                Console.WriteLine($"{(finding.IsError ? "error  " : "warning")} {finding.Where}: {finding.Message}");
            }

            Console.WriteLine($"{plan.PlanId} v{plan.Version}: {plan.Points.Count} data point(s), {findings.Count(f => f.IsError)} error(s), {findings.Count(f => !f.IsError)} warning(s).");
        }

        return findings.Any(f => f.IsError) ? ExitCodes.Failed : ExitCodes.Ok;
    }
}
