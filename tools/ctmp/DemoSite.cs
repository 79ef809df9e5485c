using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.FileProviders;

namespace CtMparticle.Tool;

/// <summary>
/// <c>ctmp serve --demo</c>: the demo shop (clients/web/demo, copied beside ctmp as <c>demo/</c>) at <c>/demo/</c>, and
/// <c>/demo/config.json</c> with the write key its tracker sends (a write key is public by design, as Segment's is).
/// </summary>
internal static class DemoSite
{
    public static string Folder => Path.Combine(AppContext.BaseDirectory, "demo");

    public static void Map(WebApplication app, string writeKey)
    {
        if (!File.Exists(Path.Combine(Folder, "index.html")))
        {
            throw new InvalidOperationException($"The demo shop is missing from {Folder}; rebuild ctmp (it copies clients/web/demo and clients/web/dist/ctmp.mjs).");
        }

        var config = Config(writeKey);
        app.Use(async (http, next) =>
        {
            var path = http.Request.Path.Value ?? "";
            if (path is "/" or "/demo")
            {
                http.Response.Redirect("/demo/");
                return;
            }

            if (path == "/demo/config.json")
            {
                http.Response.ContentType = "application/json";
                http.Response.Headers.CacheControl = "no-store";
                await http.Response.Body.WriteAsync(config, http.RequestAborted).ConfigureAwait(false);
                return;
            }

            await next(http).ConfigureAwait(false);
        });
        var files = new PhysicalFileProvider(Folder);
        var types = new FileExtensionContentTypeProvider();
        types.Mappings[".mjs"] = "text/javascript";
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = "/demo" });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files,
            RequestPath = "/demo",
            ContentTypeProvider = types,
            OnPrepareResponse = context => context.Context.Response.Headers.CacheControl = "no-cache",
        });
    }

    private static byte[] Config(string writeKey)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("writeKey", writeKey);
            json.WriteEndObject();
        }

        return buffer.ToArray();
    }
}
