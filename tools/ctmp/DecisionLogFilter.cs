using CtMparticle.Telemetry;
using Microsoft.Extensions.Logging;

namespace CtMparticle.Tool;

/// <summary>
/// ctmp's console without <c>--verbose</c>: the lines about the run (failures, throttling, pushes) are written; the
/// warnings about one input or event each (quarantined, plan violation, placeholder dropped, link conflicted or
/// limited, withdrawn) are not, since the report counts them by reason and the quarantine keeps every record. A
/// backfill of 100,000 deliveries otherwise writes about 11,000 such lines to standard error.
/// </summary>
internal sealed class DecisionLogFilter(ILoggerProvider inner) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Filtered(inner.CreateLogger(categoryName));

    public void Dispose() => inner.Dispose();

    private sealed class Filtered(ILogger inner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            // Errors always show; the message is formatted only when written.
            if (logLevel < LogLevel.Error && RelayLog.PerEventWarnings.Contains(eventId.Id))
            {
                return;
            }

            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
