using CtMparticle.Configuration;
using Microsoft.Extensions.Options;

namespace CtMparticle.Delivery;

/// <summary>
/// Per-input pacing for the push: when an input may be called again, and how many requests a run may send it.
/// Honours Retry-After, backs off exponentially with full jitter on 5xx, timeouts and 429s without Retry-After,
/// and ramps up slowly after mParticle's <c>acceleration</c> signal. In memory, per process.
/// </summary>
internal sealed class PushThrottle(IOptions<PushOptions> options, TimeProvider time, Random? random = null)
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, InputState> inputs = new(StringComparer.Ordinal);
    private readonly Random random = random ?? Random.Shared;

    private sealed class InputState
    {
        public DateTimeOffset NotBefore { get; set; }
        public int Failures { get; set; }
        public int Allowance { get; set; }
        public bool HeldBack { get; set; }
    }

    /// <summary>True when the input may be called now.</summary>
    public bool MayCall(string input)
    {
        lock (gate)
        {
            return !inputs.TryGetValue(input, out var state) || state.NotBefore <= time.GetUtcNow();
        }
    }

    /// <summary>How long until the first input that must wait may be called again; null when none waits.</summary>
    public TimeSpan? NextCallIn()
    {
        lock (gate)
        {
            var now = time.GetUtcNow();
            var waits = inputs.Values.Where(s => s.NotBefore > now).Select(s => s.NotBefore - now).ToArray();
            return waits.Length == 0 ? null : waits.Min();
        }
    }

    /// <summary>Requests this run may send to the input.</summary>
    public int Allowance(string input)
    {
        lock (gate)
        {
            return State(input).Allowance;
        }
    }

    /// <summary>A 2xx. Close to the limit (≥ 90 % used), the next runs send one request fewer.</summary>
    public void Succeeded(string input, int? percentageUsed)
    {
        lock (gate)
        {
            var state = State(input);
            state.Failures = 0;
            if (percentageUsed is >= 90)
            {
                state.Allowance = Math.Max(1, state.Allowance - 1);
                state.HeldBack = true;
            }
        }
    }

    /// <summary>
    /// The end of a run that sent to the input without being throttled: the allowance grows by a quarter (at least
    /// one request), so after an acceleration limit the rate climbs back run by run, not request by request.
    /// </summary>
    public void RunCompleted(string input)
    {
        lock (gate)
        {
            var state = State(input);
            if (state.Failures == 0 && !state.HeldBack)
            {
                state.Allowance = Math.Min(options.Value.MaxRequestsPerRun, state.Allowance + Math.Max(1, state.Allowance / 4));
            }

            state.HeldBack = false;
        }
    }

    /// <summary>A 429: waits Retry-After when given, else backs off; an acceleration limit also halves the allowance.</summary>
    public TimeSpan RateLimited(string input, TimeSpan? retryAfter, string? limit)
    {
        lock (gate)
        {
            var state = State(input);
            if (string.Equals(limit, "acceleration", StringComparison.OrdinalIgnoreCase))
            {
                state.Allowance = Math.Max(1, state.Allowance / 2);
            }

            state.HeldBack = true;

            var wait = retryAfter ?? Backoff(state);
            state.NotBefore = time.GetUtcNow() + wait;
            return wait;
        }
    }

    /// <summary>A 5xx or no response: exponential backoff with full jitter.</summary>
    public TimeSpan Failed(string input)
    {
        lock (gate)
        {
            var state = State(input);
            var wait = Backoff(state);
            state.NotBefore = time.GetUtcNow() + wait;
            state.HeldBack = true;
            return wait;
        }
    }

    /// <summary>401/403 or a missing credential: pause the input until a person can fix it.</summary>
    public void Pause(string input)
    {
        lock (gate)
        {
            State(input).NotBefore = time.GetUtcNow() + options.Value.AuthFailurePause;
        }
    }

    private TimeSpan Backoff(InputState state)
    {
        state.Failures++;
        var o = options.Value;
        var ceiling = Math.Min(o.MaxBackoff.TotalMilliseconds, o.InitialBackoff.TotalMilliseconds * Math.Pow(2, Math.Min(state.Failures - 1, 20)));
        return TimeSpan.FromMilliseconds(Math.Max(o.InitialBackoff.TotalMilliseconds / 2, random.NextDouble() * ceiling));
    }

    private InputState State(string input)
    {
        if (!inputs.TryGetValue(input, out var state))
        {
            inputs[input] = state = new InputState { Allowance = options.Value.MaxRequestsPerRun };
        }

        return state;
    }
}
