from django.urls import path

from storefront import views

app_name = "storefront"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("claim/<str:token>", views.ClaimView.as_view(), name="claim"),
    path("claim/<str:token>/<str:sku>", views.ClaimItemView.as_view(), name="claim-item"),
    path("claim/<str:token>/<str:sku>/confirm", views.ClaimConfirmView.as_view(), name="claim-confirm"),
    path("me/", views.MyRewardsView.as_view(), name="rewards"),
    path("me/continue", views.ContinueView.as_view(), name="continue"),
    path("me/orders/<uuid:order_id>", views.OrderView.as_view(), name="order"),
    path("me/account", views.AccountView.as_view(), name="account"),
    path("me/addresses/new", views.AddressEditView.as_view(), name="address-new"),
    path("me/addresses/<uuid:address_id>", views.AddressEditView.as_view(), name="address-edit"),
    path("me/addresses/<uuid:address_id>/delete", views.AddressDeleteView.as_view(), name="address-delete"),
    path("me/links/<uuid:link_id>/unlink", views.UnlinkView.as_view(), name="unlink"),
    path("me/export.json", views.ExportView.as_view(), name="export"),
    path("me/delete", views.DeleteAccountView.as_view(), name="delete-account"),
    path("store/<slug:slug>", views.StoreView.as_view(), name="store"),
    path("store/<slug:slug>/<uuid:store_item_id>", views.StoreBuyView.as_view(), name="store-buy"),
]
