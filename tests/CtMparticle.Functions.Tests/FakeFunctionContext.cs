using Microsoft.Azure.Functions.Worker;

namespace CtMparticle.Functions.Tests;

/// <summary>A hand-written FunctionContext carrying the binding data a batched Service Bus trigger provides.</summary>
internal sealed class FakeFunctionContext(IReadOnlyDictionary<string, object?> bindingData) : FunctionContext
{
    public override string InvocationId => "test-invocation";

    public override string FunctionId => "CommercetoolsIngest";

    public override TraceContext TraceContext => null!;

    public override BindingContext BindingContext { get; } = new FakeBindingContext(bindingData);

    public override RetryContext RetryContext => null!;

    public override IServiceProvider InstanceServices { get; set; } = null!;

    public override FunctionDefinition FunctionDefinition => null!;

    public override IDictionary<object, object> Items { get; set; } = new Dictionary<object, object>();

    public override Microsoft.Azure.Functions.Worker.IInvocationFeatures Features => null!;

    private sealed class FakeBindingContext(IReadOnlyDictionary<string, object?> data) : BindingContext
    {
        public override IReadOnlyDictionary<string, object?> BindingData => data;
    }
}
