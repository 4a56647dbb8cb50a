//! A browser's side of the console without a browser: [`ConsoleClient`]
//! signs in by link, keeps the session cookie, follows no redirect (so a
//! test sees each one), and posts forms with or without the page's CSRF
//! token. For what only a real browser shows (scripts, live updates on
//! screen, accessibility), see [`super::browser`].

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::api::{answer, Answer};
use super::app::TestApp;

/// A console session, as a browser holds it.
pub struct ConsoleClient {
    base: String,
    client: reqwest::Client,
    /// `lockstep_console=…`, once signed in.
    pub cookie: Option<String>,
}

/// A sign-in link made through the API with `token`.
pub async fn link(app: &TestApp, token: &str) -> String {
    let made = app.post("/v1/console/sessions", token, json!({})).await;
    assert_eq!(made.status, 201, "{}", made.text);
    made.body["url"].as_str().expect("a url").to_owned()
}

impl ConsoleClient {
    /// A browser with no session.
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        ConsoleClient { base: app.base.clone(), client, cookie: None }
    }

    /// Signs in with a new link for `token`'s admin; panics if that fails.
    pub async fn signed_in(app: &TestApp, token: &str) -> Self {
        let mut browser = Self::new(app);
        let url = link(app, token).await;
        let answer = browser.open(&url).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
        assert!(browser.cookie.is_some(), "no session cookie was set");
        browser
    }

    /// Opens a sign-in link (or any URL under `/console`), keeping any
    /// cookie it sets. The link's origin is the app's `public_url`, which a
    /// test app leaves at its default; the request goes to the test app.
    pub async fn open(&mut self, url: &str) -> Answer {
        let path = url.find("/console").map_or(url, |at| &url[at..]);
        let response = self.client.get(format!("{}{path}", self.base)).send().await.unwrap();
        if let Some(cookie) = response.headers().get(SET_COOKIE).and_then(|v| v.to_str().ok()) {
            let pair = cookie.split(';').next().unwrap_or_default().to_owned();
            self.cookie = (!pair.ends_with('=')).then_some(pair);
        }
        answer(response).await
    }

    /// Sends a request to a console path with the session cookie.
    pub async fn send(&self, method: Method, path: &str, form: Option<&[(&str, &str)]>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(form) = form {
            request = request.form(form);
        }
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    /// The CSRF token the page at `path` carries in its forms.
    pub async fn csrf(&self, path: &str) -> String {
        let page = self.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        csrf_in(&page.text).expect("a page with a form")
    }

    /// Posts a form with the session's CSRF token.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let token = self.csrf("/console/settings").await;
        let mut form: Vec<(&str, &str)> = vec![("_csrf", token.as_str())];
        form.extend_from_slice(fields);
        self.send(Method::POST, path, Some(&form)).await
    }
}

/// The value of the first `_csrf` field in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"_csrf\" value=\"")? + "name=\"_csrf\" value=\"".len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_owned())
}

/// Where a redirect answer sends the browser.
pub fn location(answer: &Answer) -> String {
    answer.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}
