"""website_crawl datasource "crawl": two messages, "processing" (0 of 2)
then "completed" with two pages under https://example.invalid/<topic>/."""

from collections.abc import Generator, Mapping
from typing import Any

from dify_plugin.entities.datasource import WebsiteCrawlMessage, WebSiteInfo, WebSiteInfoDetail
from dify_plugin.interfaces.datasource.website import WebsiteCrawlDatasource


class EchoCrawlDatasource(WebsiteCrawlDatasource):
    def _get_website_crawl(
        self, datasource_parameters: Mapping[str, Any]
    ) -> Generator[WebsiteCrawlMessage, None, None]:
        topic = str(datasource_parameters.get("topic") or "t")
        pages = [
            WebSiteInfoDetail(
                source_url="https://example.invalid/%s/1" % topic,
                content="one",
                title="One",
                description="first",
            ),
            WebSiteInfoDetail(
                source_url="https://example.invalid/%s/2" % topic,
                content="two",
                title="Two",
                description="second",
            ),
        ]
        yield self.create_crawl_message(
            WebSiteInfo(status="processing", web_info_list=[], total=len(pages), completed=0)
        )
        yield self.create_crawl_message(
            WebSiteInfo(status="completed", web_info_list=pages, total=len(pages), completed=len(pages))
        )
