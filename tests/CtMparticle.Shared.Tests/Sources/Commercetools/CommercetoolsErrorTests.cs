using CtMparticle.Sources.Commercetools;

namespace CtMparticle.Tests.Sources.Commercetools;

/// <summary>A refused commercetools request is explained whatever its body looks like; a strange body never throws.</summary>
public sealed class CommercetoolsErrorTests
{
    [Fact]
    public void Describe_CommercetoolsErrorBody_NamesTheCode()
    {
        var text = CommercetoolsClient.Describe(403, """{"statusCode":403,"errors":[{"code":"insufficient_scope","message":"x"}]}""");

        Assert.Contains("(insufficient_scope)", text, StringComparison.Ordinal);
        Assert.Contains("Commercetools:Scopes", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("<html><body>Bad gateway</body></html>")]
    [InlineData("[1,2,3]")]
    [InlineData("\"errors\"")]
    [InlineData("""{"errors":"invalid_token"}""")]
    [InlineData("""{"errors":[]}""")]
    [InlineData("""{"errors":["invalid_token"]}""")]
    [InlineData("""{"errors":[{"code":42}]}""")]
    [InlineData("""{"errors":[{"code":null}]}""")]
    [InlineData("""{"errors":[{"code":"trunc""")]
    public void Describe_MalformedBody_FallsBackToTheStatus(string body)
    {
        var text = CommercetoolsClient.Describe(400, body);

        Assert.Equal("commercetools refused the request; a predicate or parameter is wrong.", text);
    }
}
