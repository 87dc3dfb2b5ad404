"""The hub's web pages over a real server, read with httpx: lists and filters, visibility before and
after signing in, a hostile card rendered inert, security headers, downloads and CSRF."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser

import httpx
import pytest
from hub_server_support import HubServer
from pages_support import Published, publish_samples


class _Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HubServer, Published]]:
    server = HubServer(tmp_path_factory.mktemp("hub-pages") / "home")
    try:
        yield server, publish_samples(server.url, server)
    finally:
        server.stop()


def _sign_in(client: httpx.Client, token: str, next_url: str = "/") -> httpx.Response:
    form = client.get("/-/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    return client.post("/-/login", data={"csrf": csrf, "token": token, "next": next_url})


def test_home_lists_public_repos_with_filters_and_sorting(site) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    with httpx.Client(base_url=server.url) as client:
        home = client.get("/")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        for repo_id in (pub.timm, pub.text, pub.agent):
            assert f'href="/{repo_id}"' in home.text
        assert pub.private not in home.text
        only_text = client.get("/", params={"task": "text-classification"}).text
        assert pub.text in only_text and pub.timm not in only_text and pub.agent not in only_text
        only_timm = client.get("/", params={"library": "timm"}).text
        assert pub.timm in only_timm and pub.text not in only_timm
        pytorch = client.get("/", params={"framework": "pytorch", "q": "tiny"}).text
        assert pub.timm in pytorch and pub.text in pytorch and pub.agent not in pytorch
        by_score = client.get("/", params={"sort": "score"}).text
        assert by_score.index(pub.agent) < by_score.index(pub.text) < by_score.index(pub.timm)
        assert "score 500" in by_score and "score 0.8734" in by_score
        assert pub.timm in client.get("/", params={"tag": "license:apache-2.0"}).text
        namespace = client.get("/pat").text
        assert all(r in namespace for r in (pub.timm, pub.text, pub.agent))
        assert client.get("/", params={"type": "dataset"}).text.count('class="card"') == 0


def test_bad_list_parameters_get_an_error_page(site) -> None:  # type: ignore[no-untyped-def]
    server, _ = site
    with httpx.Client(base_url=server.url) as client:
        for params, words in (({"sort": "stars"}, "unknown sort"), ({"page": "x"}, "invalid page"),
                              ({"type": "space"}, "unknown repo type")):
            answer = client.get("/", params=params)
            assert answer.status_code == 400 and words in answer.text and "Traceback" not in answer.text


def test_private_repo_hidden_until_a_member_signs_in_and_after_sign_out(site) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    with httpx.Client(base_url=server.url) as client:
        hidden = client.get(f"/{pub.private}")
        missing = client.get("/lab/no-such-model")
        assert hidden.status_code == missing.status_code == 404
        assert hidden.headers["x-error-code"] == "RepoNotFound"  # the API's error headers on pages too
        assert "Repository not found" in hidden.text  # word for word the page of a missing repo
        assert hidden.text.replace("internal-model", "no-such-model") == missing.text
        assert client.get(f"/{pub.private}/raw/main/README.md").status_code == 404

        signed = _sign_in(client, pub.member_token, next_url=f"/{pub.private}")
        assert signed.status_code == 303 and signed.headers["location"] == f"/{pub.private}"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
        assert pub.member_token not in signed.headers["location"]
        page = client.get(f"/{pub.private}")
        assert page.status_code == 200 and "Only the lab may see this." in page.text and "mia" in page.text
        assert pub.private in client.get("/").text
        assert client.get(f"/{pub.private}/raw/main/README.md").content.startswith(b"---\nlibrary_name: timm")

        form = client.get("/").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        out = client.post("/-/logout", data={"csrf": csrf})
        assert out.status_code == 303
        assert client.get(f"/{pub.private}").status_code == 404
        assert pub.private not in client.get("/").text

    with httpx.Client(base_url=server.url) as outsider:  # a valid token outside the org sees nothing more
        _sign_in(outsider, pub.outsider_token)
        assert outsider.get(f"/{pub.private}").status_code == 404
    assert pub.member_token not in (server.home / "server.log").read_text(errors="replace")


def test_wrong_token_and_csrf_failures_sign_nobody_in(site) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    with httpx.Client(base_url=server.url) as client:
        wrong = _sign_in(client, "hf_not_a_token")
        assert wrong.status_code == 401 and "not valid" in wrong.text and "zoolab_session" not in wrong.headers.get(
            "set-cookie", "")
        client.get("/-/login")
        no_field = client.post("/-/login", data={"token": pub.member_token})
        assert no_field.status_code == 403 and "security token" in no_field.text
        forged = client.post("/-/login", data={"token": pub.member_token, "csrf": "guessed"})
        assert forged.status_code == 403
    with httpx.Client(base_url=server.url) as fresh:  # no CSRF cookie at all: a cross-site post
        csrf = re.search(r'name="csrf" value="([^"]+)"', httpx.get(f"{server.url}/-/login").text).group(1)  # type: ignore[union-attr]
        stolen = fresh.post("/-/login", data={"token": pub.member_token, "csrf": csrf})
        assert stolen.status_code == 403 and "zoolab_session" not in stolen.headers.get("set-cookie", "")
        csrf = re.search(r'name="csrf" value="([^"]+)"', fresh.get("/-/login").text).group(1)  # type: ignore[union-attr]
        other_site = fresh.post("/-/login", data={"token": pub.member_token, "csrf": csrf},
                                headers={"Origin": "http://evil.example"})
        assert other_site.status_code == 403 and "cross-site" in other_site.text


def test_hostile_card_renders_inert_and_pages_carry_security_headers(site) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    page = httpx.get(f"{server.url}/{pub.text}")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    tags = tags_of(page.text)
    scripts = [attrs for tag, attrs in tags if tag == "script"]
    assert scripts == [{"src": "/-/static/hub.js", "defer": None}]  # only the site's own file, no inline code
    assert not [(tag, name) for tag, attrs in tags for name in attrs if name.startswith("on") or name == "style"]
    assert not [attrs for tag, attrs in tags if (attrs.get("href") or "").lower().startswith("javascript:")]
    assert "iframe" not in {tag for tag, _ in tags} and "document.title" not in page.text
    article = page.text.split('<article class="markdown">', 1)[1].split("</article>", 1)[0]
    assert "<h1>bert-tiny-imdb</h1>" in article and "library_name:" not in article  # YAML shown as tags
    assert 'href="/?library=transformers"' in page.text and 'href="/?tag=dataset%3Aimdb"' in page.text


def test_repo_page_shows_model_index_snippets_and_replay_video(site) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    with httpx.Client(base_url=server.url) as client:
        text = client.get(f"/{pub.text}").text
        assert re.search(r"<td>imdb</td><td>test</td><td>Accuracy</td><td class=\"num\">0.8734</td>", text)
        assert f"zoolab download hub:{pub.text}" in text and f"HF_ENDPOINT={server.url}" in text
        assert "AutoModel.from_pretrained(&#39;pat/bert-tiny-imdb&#39;)" in text
        timm_page = client.get(f"/{pub.timm}").text
        assert "timm.create_model(&#39;hf-hub:pat/resnet-tiny&#39;" in timm_page and "<table>" in timm_page
        agent = client.get(f"/{pub.agent}").text
        assert f"zoolab rl enjoy hub:{pub.agent}" in agent
        video = [attrs for tag, attrs in tags_of(agent) if tag == "video"]
        assert video and video[0]["src"] == f"/{pub.agent}/raw/main/replay.mp4"
        clip = client.get(video[0]["src"])  # type: ignore[arg-type]
        assert clip.headers["content-type"] == "video/mp4" and clip.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in clip.headers["content-security-policy"]


def test_files_page_links_download_the_stored_bytes_and_preview_small_files(site) -> None:  # type: ignore[no-untyped-def]
    server, pub = site
    api = __import__("huggingface_hub").HfApi(endpoint=server.url, token=server.token("pat"))
    api.create_tag(pub.timm, tag="v1")
    api.upload_file(path_or_fileobj=b'{"architecture": "resnet18", "num_classes": 100, "v": 2}',
                    path_in_repo="config.json", repo_id=pub.timm, commit_message="Hundred classes")
    with httpx.Client(base_url=server.url) as client:
        tree = client.get(f"/{pub.timm}/tree/main")
        assert tree.status_code == 200 and "model.safetensors" in tree.text and "10.2 kB" in tree.text
        links = [attrs["href"] for tag, attrs in tags_of(tree.text) if tag == "a" and "download" in attrs]
        weights_link = next(link for link in links if link and link.endswith("model.safetensors"))
        download = client.get(weights_link)  # type: ignore[arg-type]
        assert download.content == pub.weights and "attachment" in download.headers["content-disposition"]
        preview = client.get(f"/{pub.timm}/blob/main/config.json").text
        assert "&#34;num_classes&#34;: 100" in preview or '"num_classes": 100' in preview.replace("&#34;", '"')
        old = client.get(f"/{pub.timm}/blob/v1/config.json").text.replace("&#34;", '"')
        assert '"num_classes": 10' in old and '"v": 2' not in old
        assert "tag <strong>v1</strong>" in client.get(f"/{pub.timm}/tree/v1").text
        notes = client.get(f"/{pub.text}/blob/main/notes/train.md").text
        assert "<h1>Training</h1>" in notes
        assert client.get(f"/{pub.text}/tree/main/notes").status_code == 200
        assert client.get(f"/{pub.timm}/tree/main/nope").status_code == 404
        commits = client.get(f"/{pub.timm}/commits/main").text
        assert commits.index("Hundred classes") < commits.index("Add resnet-tiny") and "pat" in commits
        # The API beside the pages is untouched: same paths answer JSON and raw bytes.
        assert client.get(f"/api/models/{pub.timm}").json()["id"] == pub.timm
        assert client.get(f"/{pub.timm}/resolve/v1/model.safetensors").content == pub.weights
        assert client.get("/-/static/hub.css").headers["content-type"].startswith("text/css")
        unknown = client.get("/api/spaces")  # an endpoint the server lacks stays the API's JSON 404
        assert unknown.status_code == 404 and unknown.json()["error"].startswith("no such endpoint")


def test_server_requiring_tokens_sends_visitors_to_sign_in(make_hub_server) -> None:  # type: ignore[no-untyped-def]
    server = make_hub_server("--require-auth")
    token = server.token("ann")
    with httpx.Client(base_url=server.url) as client:
        first = client.get("/ann/anything")
        assert first.status_code == 303 and first.headers["location"] == "/-/login?next=%2Fann%2Fanything"
        assert client.get("/").status_code == 303 and client.get("/-/login").status_code == 200
        assert _sign_in(client, token).status_code == 303
        assert client.get("/").status_code == 200 and client.get("/ann").status_code == 200
        assert client.get("/api/models").status_code == 401  # the cookie signs in pages, never the API


@pytest.mark.parametrize("attack", [
    '<a href="JaVaScRiPt:alert(1)">x</a>', "[x](javascript:alert(1))", '<svg onload="alert(1)"><circle/></svg>',
    '<img src="data:image/svg+xml,<svg onload=alert(1)>">', "<style>body{display:none}</style>",
    '<meta http-equiv="refresh" content="0;url=http://evil">', '<base href="http://evil/">',
    '<form action="http://evil"><input name=token></form>', '<object data="x.swf"></object>',
    '<a href="&#106;avascript:alert(1)">x</a>', "<details open ontoggle=alert(1)><summary>s</summary></details>",
    '<p style="background:url(javascript:alert(1))">x</p>', "<scr<script>ipt>alert(1)</script>",
])
def test_card_markup_attacks_leave_nothing_active(attack: str) -> None:
    from zoolab.hub.server.pages.render import render_markdown

    html = render_markdown(f"# Card\n\n{attack}\n")
    tags = tags_of(html)
    names = {tag for tag, _ in tags}
    assert not names & {"script", "svg", "style", "meta", "base", "form", "input", "object", "iframe"}
    for _, attrs in tags:
        assert not [name for name in attrs if name.startswith("on") or name == "style"]
        for key in ("href", "src"):
            assert not (attrs.get(key) or "").lower().startswith(("javascript:", "data:")), html
    assert "<h1>Card</h1>" in html
