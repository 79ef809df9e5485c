using CtMparticle.Sources.Commercetools;
using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions;

/// <summary>
/// Re-reads consent from commercetools on a schedule (setting ReconcileSchedule, e.g. hourly) and sends what changed.
/// Does nothing when the commercetools API is not configured (Commercetools:ProjectKey empty).
/// </summary>
internal sealed class ConsentReconciliation(ConsentReconciler reconciler)
{
    [Function(nameof(ConsentReconciliation))]
    public Task Run([TimerTrigger("%ReconcileSchedule%")] TimerInfo timer, CancellationToken cancellationToken) =>
        reconciler.RunAsync(500, cancellationToken);
}
