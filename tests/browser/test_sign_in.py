"""Signing in and out of the page, and a user without an uploader permission."""

from playwright.async_api import expect

from tests.support.browser import no_serious_violations, sign_in


async def test_a_user_signs_in_sees_browse_and_signs_out(page, shoot):
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await no_serious_violations(page)
    await shoot(page, "sign-in-form")

    await sign_in(page, "demo")
    await expect(page.get_by_text("Signed in as demo")).to_be_visible()
    await expect(page.get_by_role("link", name="Browse", exact=True)).to_have_attribute("aria-current", "page")
    await expect(page.get_by_role("heading", name="Browse uploads")).to_be_visible()
    await shoot(page, "browse")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_text("You are signed out.")).to_be_visible()
    # The session ended on the server: a reload does not bring the user back.
    await page.reload()
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shoot(page, "signed-out")


async def test_a_wrong_password_is_refused_with_a_message(page, shoot):
    await sign_in(page, "demo", "not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await shoot(page, "refused")


async def test_a_user_without_an_uploader_permission_sees_no_access(page, shoot):
    await sign_in(page, "viewer")
    await expect(page.get_by_role("heading", name="No access")).to_be_visible()
    await expect(page.get_by_text("User viewer has no imaging uploader permission")).to_be_visible()
    await expect(page.get_by_role("link", name="Browse", exact=True)).to_be_hidden()
    await no_serious_violations(page)
    await shoot(page, "no-access")


async def test_after_five_failed_sign_ins_the_page_says_to_wait(page, shoot):
    for _ in range(5):
        await sign_in(page, "mallory", "guess")
        await expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")
    await sign_in(page, "mallory", "guess")
    await expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins for user mallory")
    await shoot(page, "throttled")
